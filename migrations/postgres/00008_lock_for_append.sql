-- Append's compare-and-swap as one statement that fails the transaction
-- (issue 15): tabula_lock_for_append locks the log's tree_state and logs
-- rows, as Append's SELECT … FOR UPDATE did, and raises when the batch may
-- not land: no such tree (SQLSTATE TBL01), the log is not active (TBL02),
-- the stored size is not the size the batch was built on (TBL03). Because a
-- failure aborts the transaction, Append can send BEGIN, this call, every
-- write and COMMIT in one pipeline: when the swap fails, the server skips
-- the writes and the COMMIT, and nothing is written.
--
-- The function runs under the caller's READ COMMITTED transaction: its
-- SELECT … FOR UPDATE waits for a concurrent freeze (Rotate updates the
-- logs row under the same lock) and then sees the frozen state.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION tabula_lock_for_append(p_tree_id BIGINT, p_size BIGINT) RETURNS VOID
LANGUAGE plpgsql AS $$
DECLARE
    v_size  BIGINT;
    v_state TEXT;
BEGIN
    SELECT t.size, l.state INTO v_size, v_state
    FROM tree_state t JOIN logs l ON l.tree_id = t.tree_id
    WHERE t.tree_id = p_tree_id
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no tree %', p_tree_id USING ERRCODE = 'TBL01';
    ELSIF v_state <> 'active' THEN
        RAISE EXCEPTION 'log % is %', p_tree_id, v_state USING ERRCODE = 'TBL02';
    ELSIF v_size <> p_size THEN
        RAISE EXCEPTION 'stored size %, batch built on %', v_size, p_size USING ERRCODE = 'TBL03';
    END IF;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION tabula_lock_for_append(BIGINT, BIGINT);
