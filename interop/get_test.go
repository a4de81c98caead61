package interop

import (
	"errors"
	"strings"
	"testing"

	"github.com/go-openapi/swag/conv"
	"github.com/sigstore/rekor/pkg/generated/client/entries"
	"github.com/sigstore/rekor/pkg/generated/models"
)

// TestGetEntry reads one entry every way the Rekor v1 API offers, with the
// generated client: by UUID (80 and 64 hex), by index, and through
// /api/v1/log/entries/retrieve by UUID, by index and by the proposed entry.
// Every answer must be the same entry and verify with rekor pkg/verify.
func TestGetEntry(t *testing.T) {
	forEachEngine(t, func(t *testing.T, s *server) {
		c := newLogClient(t, s)
		var sgs []*signed
		var uuids []string
		for _, a := range []string{"get one", "get two", "get three", "get four"} {
			sg := keySigned(t, a)
			uuid, _ := c.create(t, sg.entry)
			sgs, uuids = append(sgs, sg), append(uuids, uuid)
		}
		const want = 1
		_, created := c.getByIndex(t, want)

		check := func(how, uuid string, e models.LogEntryAnon) {
			t.Helper()
			if uuid != uuids[want] {
				t.Errorf("%s: entry %s, want %s", how, uuid, uuids[want])
			}
			if *e.LogIndex != want || e.Body != created.Body || *e.IntegratedTime != *created.IntegratedTime || *e.LogID != *created.LogID {
				t.Errorf("%s: got index %d body %v, want index %d body %v", how, *e.LogIndex, e.Body, want, created.Body)
			}
			// The proof is against the tree as it is now.
			if got := *e.Verification.InclusionProof.TreeSize; got != int64(len(uuids)) {
				t.Errorf("%s: proof for tree size %d, want %d", how, got, len(uuids))
			}
			c.verifyEntry(t, e)
		}

		uuid, e := c.getByUUID(t, uuids[want])
		check("GetLogEntryByUUID(80 hex)", uuid, e)
		uuid, e = c.getByUUID(t, uuids[want][16:])
		check("GetLogEntryByUUID(64 hex)", uuid, e)
		uuid, e = c.getByIndex(t, want)
		check("GetLogEntryByIndex", uuid, e)

		one := func(how string, les []models.LogEntry) {
			t.Helper()
			if len(les) != 1 {
				t.Fatalf("%s: %d results, want 1", how, len(les))
			}
			uuid, e := only(t, les[0])
			check(how, uuid, e)
		}
		one("retrieve by UUID", c.retrieve(t, &models.SearchLogQuery{EntryUUIDs: []string{uuids[want]}}))
		one("retrieve by 64-hex UUID", c.retrieve(t, &models.SearchLogQuery{EntryUUIDs: []string{uuids[want][16:]}}))
		one("retrieve by index", c.retrieve(t, &models.SearchLogQuery{LogIndexes: []*int64{conv.Pointer(int64(want))}}))
		byEntry := &models.SearchLogQuery{}
		byEntry.SetEntries([]models.ProposedEntry{sgs[want].entry})
		one("retrieve by entry", c.retrieve(t, byEntry))

		// Several at once; misses are left out.
		missing := strings.Repeat("ab", 32)
		got := c.retrieve(t, &models.SearchLogQuery{
			EntryUUIDs: []string{uuids[0], missing},
			LogIndexes: []*int64{conv.Pointer(int64(3)), conv.Pointer(int64(99))},
		})
		var ids []string
		for _, le := range got {
			id, e := only(t, le)
			c.verifyEntry(t, e)
			ids = append(ids, id)
		}
		if strings.Join(ids, ",") != uuids[0]+","+uuids[3] {
			t.Errorf("retrieve UUID 0 + a missing UUID + index 3 + index 99: got %v, want [%s %s]", ids, uuids[0], uuids[3])
		}

		// Not found, as the generated client types them.
		p := entries.NewGetLogEntryByUUIDParams()
		p.SetEntryUUID(missing)
		var nfUUID *entries.GetLogEntryByUUIDNotFound
		if _, err := c.rekor.Entries.GetLogEntryByUUIDContext(ctx(t), p); !errors.As(err, &nfUUID) {
			t.Errorf("GetLogEntryByUUID(unknown): %v (%T), want *entries.GetLogEntryByUUIDNotFound", err, err)
		}
		// Our leaf hash under another tree ID is another log's entry.
		otherTree := strings.Repeat("0", 15) + "1"
		if uuids[want][:16] == otherTree {
			otherTree = strings.Repeat("0", 15) + "2"
		}
		p.SetEntryUUID(otherTree + uuids[want][16:])
		if _, err := c.rekor.Entries.GetLogEntryByUUIDContext(ctx(t), p); !errors.As(err, &nfUUID) {
			t.Errorf("GetLogEntryByUUID(other tree + our leaf): %v (%T), want *entries.GetLogEntryByUUIDNotFound", err, err)
		}
		pi := entries.NewGetLogEntryByIndexParams()
		pi.SetLogIndex(int64(len(uuids)))
		var nfIndex *entries.GetLogEntryByIndexNotFound
		if _, err := c.rekor.Entries.GetLogEntryByIndexContext(ctx(t), pi); !errors.As(err, &nfIndex) {
			t.Errorf("GetLogEntryByIndex(tree size): %v (%T), want *entries.GetLogEntryByIndexNotFound", err, err)
		}
	})
}

// retrieve asks /api/v1/log/entries/retrieve with the generated client.
func (c *logClient) retrieve(t *testing.T, q *models.SearchLogQuery) []models.LogEntry {
	t.Helper()
	p := entries.NewSearchLogQueryParams()
	p.SetEntry(q)
	resp, err := c.rekor.Entries.SearchLogQueryContext(ctx(t), p)
	if err != nil {
		t.Fatalf("SearchLogQuery: %s", describe(err))
	}
	return resp.Payload
}
