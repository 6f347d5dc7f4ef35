-- The sweepers and the restart scan now find open calls through call_lines
-- (which holds only open calls), so these partial indexes no longer pay for
-- themselves: every status or deadline change had to maintain them.
DROP INDEX calls_ring_due;
DROP INDEX calls_grace_due;
DROP INDEX calls_open_by_node;
