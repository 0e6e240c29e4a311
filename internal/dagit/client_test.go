package dagit

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestRequestErrors(t *testing.T) {
	tests := []struct {
		name      string
		resp      fakeResponse
		temporary bool
		wantMsg   string
	}{
		{"graphql validation error", fakeResponse{400, `{"errors":[{"message":"Cannot query field \"x\" on type \"Run\"."}]}`}, false, `Cannot query field "x"`},
		{"errors with 200", fakeResponse{200, `{"data":null,"errors":[{"message":"boom"},{"message":"bang"}]}`}, false, "boom; bang"},
		{"bad gateway", fakeResponse{502, `<html>bad gateway</html>`}, true, "HTTP 502"},
		{"unavailable", fakeResponse{503, ``}, true, "(empty body)"},
		{"server error", fakeResponse{500, `Internal Server Error`}, false, "HTTP 500: Internal Server Error"},
		{"not json", fakeResponse{200, `<html>`}, false, "not JSON"},
		{"no data", fakeResponse{200, `{}`}, false, "no data"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, g := newFakeDagit(t)
			f.on("DagsterDevRun", tc.resp)
			_, err := g.Run(context.Background(), "r1")
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *RequestError", err, err)
			}
			if re.Temporary != tc.temporary {
				t.Errorf("Temporary = %v, want %v", re.Temporary, tc.temporary)
			}
			if !strings.Contains(err.Error(), tc.wantMsg) {
				t.Errorf("error %q does not contain %q", err, tc.wantMsg)
			}
		})
	}
}

func TestConnectionRefusedIsTemporary(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	g := &Client{BaseURL: url, HTTP: http.DefaultClient}
	_, err := g.Run(context.Background(), "x")
	if !IsTemporary(err) {
		t.Fatalf("err = %v, want a temporary RequestError", err)
	}
}
