-- FreeRADIUS 3.2's own radacct and nasreload tables (Debian:
-- /etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql), columns unchanged so the stock
-- queries.conf writes them. This file is FreeRADIUS's accounting database (the sql_accounting
-- instance that configure-freeradius sets up); radsync only creates and upgrades it, reads open
-- sessions and closes stale ones.
CREATE TABLE IF NOT EXISTS radacct (
	radacctid INTEGER PRIMARY KEY AUTOINCREMENT,
	acctsessionid varchar(64) NOT NULL default '',
	acctuniqueid varchar(32) NOT NULL default '',
	username varchar(64) NOT NULL default '',
	realm varchar(64) default '',
	nasipaddress varchar(15) NOT NULL default '',
	nasportid varchar(32) default NULL,
	nasporttype varchar(32) default NULL,
	acctstarttime datetime NULL default NULL,
	acctupdatetime datetime NULL default NULL,
	acctstoptime datetime NULL default NULL,
	acctinterval int(12) default NULL,
	acctsessiontime int(12) default NULL,
	acctauthentic varchar(32) default NULL,
	connectinfo_start varchar(128) default NULL,
	connectinfo_stop varchar(128) default NULL,
	acctinputoctets bigint(20) default NULL,
	acctoutputoctets bigint(20) default NULL,
	calledstationid varchar(50) NOT NULL default '',
	callingstationid varchar(50) NOT NULL default '',
	acctterminatecause varchar(32) NOT NULL default '',
	servicetype varchar(32) default NULL,
	framedprotocol varchar(32) default NULL,
	framedipaddress varchar(15) NOT NULL default '',
	framedipv6address varchar(45) NOT NULL default '',
	framedipv6prefix varchar(45) NOT NULL default '',
	framedinterfaceid varchar(44) NOT NULL default '',
	delegatedipv6prefix varchar(45) NOT NULL default '',
	class varchar(64) default NULL
);

CREATE UNIQUE INDEX IF NOT EXISTS acctuniqueid ON radacct(acctuniqueid);
CREATE INDEX IF NOT EXISTS username ON radacct(username);
CREATE INDEX IF NOT EXISTS framedipaddress ON radacct (framedipaddress);
CREATE INDEX IF NOT EXISTS framedipv6address ON radacct (framedipv6address);
CREATE INDEX IF NOT EXISTS framedipv6prefix ON radacct (framedipv6prefix);
CREATE INDEX IF NOT EXISTS framedinterfaceid ON radacct (framedinterfaceid);
CREATE INDEX IF NOT EXISTS delegatedipv6prefix ON radacct (delegatedipv6prefix);
CREATE INDEX IF NOT EXISTS acctsessionid ON radacct(acctsessionid);
CREATE INDEX IF NOT EXISTS acctsessiontime ON radacct(acctsessiontime);
CREATE INDEX IF NOT EXISTS acctstarttime ON radacct(acctstarttime);
CREATE INDEX IF NOT EXISTS acctinterval ON radacct(acctinterval);
CREATE INDEX IF NOT EXISTS acctstoptime ON radacct(acctstoptime);
CREATE INDEX IF NOT EXISTS nasipaddress ON radacct(nasipaddress);
CREATE INDEX IF NOT EXISTS class ON radacct(class);

-- The simultaneous-use count joins it (queries.conf simul_count_query).
CREATE TABLE IF NOT EXISTS nasreload (
	nasipaddress varchar(15) PRIMARY KEY,
	reloadtime datetime NOT NULL
);

-- radsync's stale-session sweep and its per-user lookups: open sessions only.
CREATE INDEX IF NOT EXISTS radsync_open_sessions ON radacct(username) WHERE acctstoptime IS NULL;
