-- Haul 0012: a rate window counts starts from the moment a claim's handlers began. A claim
-- records its starts as `pending` at the claim's time; once every one of its jobs has entered
-- its handler the worker sets `at` to that moment and clears `pending`. A pending entry counts
-- until it is reported (or, if its worker died first, until a lease past the window), so the
-- limit holds by handler start, not only by claim.
ALTER TABLE {schema}.limit_starts
    ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ADD COLUMN pending boolean NOT NULL DEFAULT false;
