-- Haul 0011: each schedule's next tick, as the leader computed it from the schedule (the
-- schedules live in the workers' code, not here): what `haul periodic` and the dashboard show
-- as the next run. Written with each tick's compare-and-set, and when the leader sees a row
-- whose value differs (a new or changed schedule); NULL until a leader has seen the schedule.
ALTER TABLE {schema}.periodic ADD COLUMN next_tick timestamptz;
