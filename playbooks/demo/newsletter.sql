-- Demo data: the newsletter list, kept by the marketing team.
CREATE TABLE subscribers (
  email TEXT PRIMARY KEY,
  list TEXT NOT NULL,
  subscribed_at TEXT NOT NULL,
  consent_text TEXT NOT NULL,
  last_opened_at TEXT
);
INSERT INTO subscribers VALUES
  ('alice@example.com', 'weekly-offers', '2021-03-02T09:16:00Z', 'Yes, send me weekly offers by email.', '2026-11-20T07:31:00Z'),
  ('zoë.o''neill@example.org', 'weekly-offers', '2023-01-08T12:01:00Z', 'Yes, send me weekly offers by email.', NULL);
