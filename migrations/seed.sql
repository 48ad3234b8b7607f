-- Demo data for a local (or explicitly seeded) database: `invoke db.seed`, run by `invoke up` and
-- `db.reset` locally, and by the migration job only where the stack sets pgstack:seed: true.
--
-- Rules for this file (ops/migrate/seed.py runs it in one transaction, with search_path set to
-- DB_SCHEMA, on a schema at the migrations' head):
--   * idempotent: every row is found by its natural key (an email, a token, a calendar event id)
--     and inserted only when missing (ON CONFLICT DO NOTHING / WHERE NOT EXISTS); rerunning it, or
--     running it on a database that already holds some of these rows, adds nothing twice;
--   * never an explicit id: identity columns keep their sequences, so the app's own inserts do not
--     collide with seeded rows;
--   * unqualified names, like the migrations; no secrets (the "tokens" below are placeholders).

INSERT INTO users (email, name, picture, last_login_at)
VALUES
    ('demo@example.com', 'Demo User', 'https://example.com/avatars/demo.png', now() - interval '2 hours'),
    ('ada@example.com', 'Ada Lovelace', NULL, now() - interval '3 days'),
    ('grace@example.com', 'Grace Hopper', NULL, NULL)
ON CONFLICT (email) DO NOTHING;

INSERT INTO sessions (user_id, session_token, expires_at)
SELECT u.id, 'demo-session-token-not-a-secret', now() + interval '30 days'
FROM users u
WHERE u.email = 'demo@example.com'
ON CONFLICT (session_token) DO NOTHING;

INSERT INTO oauth_tokens (user_id, provider, enc_blob)
SELECT u.id, 'google', convert_to('placeholder: not an encrypted token', 'UTF8')
FROM users u
WHERE u.email = 'demo@example.com'
ON CONFLICT (user_id, provider) DO NOTHING;

-- A week of the demo user's calendar around today, and one event for Ada.
INSERT INTO events (user_id, gcal_event_id, title, start_ts, end_ts, meta_json)
SELECT u.id, e.gcal_event_id, e.title, e.start_ts, e.start_ts + e.duration, e.meta_json::jsonb
FROM users u
JOIN (
    VALUES
        ('demo@example.com', 'seed-standup-mon', 'Team stand-up',
         date_trunc('week', now()) + interval '9 hours 30 minutes', interval '15 minutes',
         '{"location": "Room 2", "recurring": true}'),
        ('demo@example.com', 'seed-planning', 'Sprint planning',
         date_trunc('week', now()) + interval '1 day 14 hours', interval '1 hour',
         '{"location": "Video call", "attendees": 6}'),
        ('demo@example.com', 'seed-dentist', 'Dentist',
         date_trunc('week', now()) + interval '2 days 8 hours', interval '45 minutes',
         '{"private": true}'),
        ('demo@example.com', 'seed-retro', 'Retrospective',
         date_trunc('week', now()) + interval '4 days 16 hours', interval '1 hour',
         '{"location": "Room 1"}'),
        ('ada@example.com', 'seed-ada-review', 'Design review',
         date_trunc('week', now()) + interval '3 days 11 hours', interval '90 minutes',
         '{"attendees": 3}')
) AS e (email, gcal_event_id, title, start_ts, duration, meta_json) ON e.email = u.email
ON CONFLICT (user_id, gcal_event_id) DO NOTHING;

-- usage_events has no natural key: a (user, route) pair already there is not seeded again.
INSERT INTO usage_events (user_id, route, ts)
SELECT u.id, r.route, now() - r.ago
FROM (
    VALUES
        ('demo@example.com', 'GET /api/events', interval '2 hours'),
        ('demo@example.com', 'POST /api/events', interval '110 minutes'),
        ('ada@example.com', 'GET /api/events', interval '3 days'),
        (NULL, 'GET /healthz', interval '1 minute')
) AS r (email, route, ago)
LEFT JOIN users u ON u.email = r.email
WHERE NOT EXISTS (
    SELECT 1 FROM usage_events x
    WHERE x.route = r.route AND x.user_id IS NOT DISTINCT FROM u.id
);
