-- Run once as postgres: psql -f deploy/postgresql/setup.sql, then set the password:
--   psql -c "ALTER ROLE psc119 PASSWORD '...'"   (the same in DATABASE_URL of /etc/psc119/psc119.env)
CREATE ROLE psc119 LOGIN;
CREATE DATABASE psc119 OWNER psc119 ENCODING 'UTF8' TEMPLATE template0;
-- A statement that runs this long is a bug or an attack; reports and migrations set their own when needed.
ALTER ROLE psc119 SET statement_timeout = '30s';
ALTER ROLE psc119 SET idle_in_transaction_session_timeout = '15s';
-- The restore check makes and drops scratch databases.
ALTER ROLE psc119 CREATEDB;
