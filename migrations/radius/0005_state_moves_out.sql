-- radsync's private state moved to its own database (the state database, mode 0600). What
-- stays here is what FreeRADIUS reads, and radsync_owned_rows, without which radsync could
-- not tell its rows from an operator's. The data was copied to the state database before this
-- step runs (store/sqlite_open.cpp); the file is vacuumed afterwards so that nothing of the
-- dropped tables (generated passwords, members' properties, webhook bodies) stays in it.
DROP TABLE IF EXISTS radsync_accounts;
DROP TABLE IF EXISTS radsync_members;
DROP TABLE IF EXISTS radsync_companies;
DROP TABLE IF EXISTS radsync_memberships;
DROP TABLE IF EXISTS radsync_plans;
DROP TABLE IF EXISTS radsync_locations;
DROP TABLE IF EXISTS radsync_passes;
DROP TABLE IF EXISTS radsync_bookings;
DROP TABLE IF EXISTS radsync_runs;
DROP TABLE IF EXISTS radsync_audit;
DROP TABLE IF EXISTS radsync_inbox;
