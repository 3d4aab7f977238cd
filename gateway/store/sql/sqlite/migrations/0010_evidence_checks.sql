-- 0010: one checkpoint per predecessor (two processes checkpointing at once: the second one's insert
-- conflicts and it makes none), and letters walked in id order by `gateway evidence verify`.
CREATE UNIQUE INDEX evidence_checkpoints_one_successor ON evidence_checkpoints (prev_root);
