-- 009 (issue 12): the fan-out after commit (delivery/fanout.ts) takes marked events round-robin across
-- workspaces, oldest first within each, so one workspace's burst of events with many Zaps no longer holds
-- back another workspace's first delivery. It seeks the next workspace after the last one served in this
-- index. Partial, like events_awaiting_fanout, which it replaces: an event leaves it when its fan-out is
-- done, so it stays as small as the backlog.
DROP INDEX events_awaiting_fanout;
CREATE INDEX events_awaiting_fanout_by_workspace ON events(workspace_id, seq) WHERE fanout_upto IS NOT NULL;
