-- Demo data: the web shop's order database (a separate system; it knows customers by id).
CREATE TABLE orders (
  id INTEGER PRIMARY KEY,
  customer_ref INTEGER NOT NULL,
  placed_at TEXT NOT NULL,
  status TEXT NOT NULL,
  total REAL NOT NULL,
  currency TEXT NOT NULL,
  shipping_address TEXT NOT NULL
);
CREATE TABLE order_items (
  id INTEGER PRIMARY KEY,
  order_id INTEGER NOT NULL REFERENCES orders(id),
  sku TEXT NOT NULL,
  description TEXT NOT NULL,
  quantity INTEGER NOT NULL,
  unit_price REAL NOT NULL
);
CREATE TABLE products (
  sku TEXT PRIMARY KEY,
  name TEXT NOT NULL
);
INSERT INTO orders VALUES
  (5001, 1, '2025-12-01T10:00:00Z', 'delivered', 59.9, 'GBP', '12 Acacia Avenue, London N1 7AA'),
  (5002, 1, '2026-06-14T15:22:00Z', 'delivered', 12.5, 'GBP', '1 Canada Square, London E14 5AB'),
  (5003, 2, '2026-08-03T09:45:00Z', 'returned', 120.0, 'EUR', '5 Rue de la Paix, 75002 Paris');
INSERT INTO order_items VALUES
  (1, 5001, 'TEA-01', 'Breakfast tea, 500 g', 2, 14.95),
  (2, 5001, 'MUG-02', 'Stoneware mug', 2, 15.0),
  (3, 5002, 'TEA-07', 'Green tea, 250 g', 1, 12.5),
  (4, 5003, 'POT-01', 'Cast iron teapot', 1, 120.0);
INSERT INTO products VALUES ('TEA-01', 'Breakfast tea'), ('MUG-02', 'Stoneware mug'), ('TEA-07', 'Green tea'), ('POT-01', 'Teapot');
