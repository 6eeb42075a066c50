-- Demo data: the customer account database.
CREATE TABLE users (
  id INTEGER PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  full_name TEXT NOT NULL,
  phone TEXT,
  birth_date TEXT,
  marketing_opt_in INTEGER NOT NULL DEFAULT 0,
  created_at TEXT NOT NULL
);
CREATE TABLE addresses (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  kind TEXT NOT NULL,
  street TEXT NOT NULL,
  city TEXT NOT NULL,
  postcode TEXT NOT NULL,
  country TEXT NOT NULL
);
CREATE TABLE login_events (
  id INTEGER PRIMARY KEY,
  user_id INTEGER NOT NULL REFERENCES users(id),
  ip TEXT NOT NULL,
  user_agent TEXT,
  at TEXT NOT NULL
);
INSERT INTO users VALUES
  (1, 'alice@example.com', 'Alice Andersen', '+44 20 7946 0018', '1988-04-12', 1, '2021-03-02T09:15:00Z'),
  (2, 'bob@example.com', 'Bob Brown', NULL, NULL, 0, '2022-07-19T17:40:00Z'),
  (3, 'zoë.o''neill@example.org', 'Zoë O''Neill', '+353 1 555 0199', '1995-11-30', 1, '2023-01-08T12:00:00Z');
INSERT INTO addresses VALUES
  (10, 1, 'home', '12 Acacia Avenue', 'London', 'N1 7AA', 'GB'),
  (11, 1, 'work', '1 Canada Square', 'London', 'E14 5AB', 'GB'),
  (12, 2, 'home', '5 Rue de la Paix', 'Paris', '75002', 'FR'),
  (13, 3, 'home', '7 Grafton Street', 'Dublin', 'D02 VK65', 'IE');
INSERT INTO login_events VALUES
  (100, 1, '203.0.113.7', 'Firefox/128', '2026-10-01T08:00:00Z'),
  (101, 1, '203.0.113.7', 'Firefox/128', '2026-10-15T19:30:00Z'),
  (102, 2, '198.51.100.23', 'Safari/18', '2026-09-30T10:05:00Z'),
  (103, 3, '192.0.2.44', 'Chrome/140', '2026-11-02T21:12:00Z');
