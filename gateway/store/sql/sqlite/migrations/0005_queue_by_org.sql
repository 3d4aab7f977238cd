-- 0005: an organisation's undeleted queue items in id order, for claim_next (the pull).
-- Without it the planner walked the primary key and filtered every row: with 2 million queue rows
-- and one office's 50,000-item backlog a pull took 378 ms; with it, 0.17 ms (EXPLAIN ANALYZE,
-- PostgreSQL 15, this project's 2-core machine).
CREATE INDEX queue_open_by_org ON queue (org, id) WHERE deleted_at IS NULL;
