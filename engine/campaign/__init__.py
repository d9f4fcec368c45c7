"""Campaigns: many client estates, each upgraded in its maintenance window (docs/fleet.md).

`loader` reads campaign.yml, `timetable` plans it, `policy` holds its rules, `store` keeps where
it stands in the journal's database; `local_pool` runs it from one machine, `worker`,
`celery_app`, `leases` and `fleet` on Celery workers with a shared PostgreSQL journal;
`estate_run` starts one estate's `cutover run`; `status` and `web` show it.
"""
