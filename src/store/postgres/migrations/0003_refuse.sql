-- A statement that must not apply calls allot_refuse('CODE'): it raises, and PostgreSQL undoes
-- everything the statement did (the admission's insert, when its budget hold did not fit), with no
-- transaction around it. VOLATILE (the default), so the planner never calls it ahead of time.
CREATE OR REPLACE FUNCTION allot_refuse(code TEXT) RETURNS INTEGER LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE = 'allot_refuse:' || code;
END
$$;
