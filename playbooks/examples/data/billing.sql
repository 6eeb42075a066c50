CREATE TABLE users (id INTEGER PRIMARY KEY, email TEXT NOT NULL, stripe_customer_id TEXT);
INSERT INTO users VALUES (1, 'alice@example.com', 'cus_A1');
INSERT INTO users VALUES (2, 'bob@example.com', 'cus_B1');
