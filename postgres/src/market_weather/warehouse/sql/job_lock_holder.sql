-- Who holds the job's advisory lock: the PostgreSQL session, its client and since when. A lock key of
-- one bigint shows in pg_locks as classid (high 32 bits) and objid (low 32 bits), objsubid 1.
SELECT a.pid, a.application_name, a.client_addr, a.backend_start
  FROM pg_locks l
  JOIN pg_stat_activity a ON a.pid = l.pid
 WHERE l.locktype = 'advisory'
   AND l.granted
   AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND l.objsubid = 1
   AND ((l.classid::bigint << 32) | l.objid::bigint) = %(key)s
