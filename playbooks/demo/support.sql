-- Demo data: the support desk. Tickets are filed by email, not by account.
CREATE TABLE tickets (
  id INTEGER PRIMARY KEY,
  requester_email TEXT NOT NULL,
  subject TEXT NOT NULL,
  status TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE TABLE messages (
  id INTEGER PRIMARY KEY,
  ticket_id INTEGER NOT NULL REFERENCES tickets(id),
  author TEXT NOT NULL,
  body TEXT NOT NULL,
  sent_at TEXT NOT NULL
);
INSERT INTO tickets VALUES
  (70, 'alice@example.com', 'Where is my order 5001?', 'closed', '2025-12-03T08:12:00Z'),
  (71, 'carol@example.net', 'Do you ship to Norway?', 'open', '2026-11-01T11:00:00Z');
INSERT INTO messages VALUES
  (700, 70, 'customer', 'Hello, my order 5001 has not arrived yet.', '2025-12-03T08:12:00Z'),
  (701, 70, 'agent', 'Sorry for the wait — it was delivered this morning.', '2025-12-03T09:01:00Z'),
  (710, 71, 'customer', 'Do you ship to Norway?', '2026-11-01T11:00:00Z');
