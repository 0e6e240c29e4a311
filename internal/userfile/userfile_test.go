package userfile

import (
	"errors"
	"testing"
)

func TestFileErrorFormat(t *testing.T) {
	var fe *Error
	err := error(&Error{File: "a.env", Line: 3, Msg: "bad"})
	if !errors.As(err, &fe) || err.Error() != "a.env:3: bad" {
		t.Errorf("got %q", err)
	}
	if (&Error{File: "a.env", Msg: "bad"}).Error() != "a.env: bad" {
		t.Error("no line form")
	}
}
