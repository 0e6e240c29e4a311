package dagit

import (
	"encoding/json"
	"strings"
	"testing"
)

// A user's module that fails at import time, as a code server reports it:
// Dagster's wrapper error, with the user's exception as its cause.
const userCodeLoadError = `{
  "message": "dagster._core.errors.DagsterUserCodeLoadError: Error occurred during the loading of Dagster definitions in\nexecutable_path=/usr/local/bin/python, python_file=/opt/dagster/app/repo.py\n",
  "className": "DagsterUserCodeLoadError",
  "stack": [
    "  File \"/usr/local/lib/python3.12/site-packages/dagster/_grpc/server.py\", line 420, in __init__\n    self._loaded_repositories = LoadedRepositories(\n",
    "  File \"/usr/local/lib/python3.12/site-packages/dagster/_utils/error.py\", line 182, in user_code_error_boundary\n    raise new_error from e\n"
  ],
  "errorChain": [{"isExplicitLink": true, "error": {
    "message": "NameError: name 'undefined_thing' is not defined\n",
    "className": "NameError",
    "stack": [
      "  File \"/usr/local/lib/python3.12/site-packages/dagster/_core/code_pointer.py\", line 135, in load_python_file\n    return import_module_from_path(module_name, python_file)\n",
      "  File \"<frozen importlib._bootstrap_external>\", line 995, in exec_module\n",
      "  File \"<frozen importlib._bootstrap>\", line 488, in _call_with_frames_removed\n",
      "  File \"/opt/dagster/app/repo.py\", line 3, in <module>\n    from helpers import build\n",
      "  File \"/opt/dagster/app/helpers.py\", line 12, in build\n    return undefined_thing\n",
      "  File \"/usr/local/lib/python3.12/json/__init__.py\", line 346, in loads\n    return _default_decoder.decode(s)\n"
    ]}}]
}`

// A SyntaxError names its location in its message, not as a frame.
const syntaxLoadError = `{
  "message": "dagster._core.errors.DagsterUserCodeLoadError: Error occurred during the loading of Dagster definitions\n",
  "className": "DagsterUserCodeLoadError",
  "stack": ["  File \"/usr/local/lib/python3.12/site-packages/dagster/_utils/error.py\", line 182, in user_code_error_boundary\n    raise new_error from e\n"],
  "errorChain": [{"isExplicitLink": true, "error": {
    "message": "  File \"/opt/dagster/app/repo.py\", line 7\n    def broken(\n              ^\nSyntaxError: '(' was never closed\n",
    "className": "SyntaxError",
    "stack": [
      "  File \"/usr/local/lib/python3.12/site-packages/dagster/_seven/__init__.py\", line 52, in import_module_from_path\n    spec.loader.exec_module(module)\n",
      "  File \"<frozen importlib._bootstrap_external>\", line 991, in exec_module\n",
      "  File \"<frozen importlib._bootstrap_external>\", line 1129, in get_code\n"
    ]}}]
}`

func decodePythonError(t *testing.T, s string) *PythonError {
	t.Helper()
	var pe PythonError
	if err := json.Unmarshal([]byte(s), &pe); err != nil {
		t.Fatal(err)
	}
	return &pe
}

func TestUserFrame(t *testing.T) {
	tests := []struct {
		name, err string
		want      Frame
	}{
		{"innermost user frame of the cause", userCodeLoadError, Frame{File: "/opt/dagster/app/helpers.py", Line: 12, Func: "build"}},
		{"SyntaxError location", syntaxLoadError, Frame{File: "/opt/dagster/app/repo.py", Line: 7}},
		{"only internal frames: the innermost of them", `{"message":"boom","stack":[
			"  File \"/usr/local/lib/python3.12/site-packages/dagster/_grpc/server.py\", line 1, in a\n",
			"  File \"/usr/local/lib/python3.12/site-packages/grpc/_channel.py\", line 2, in b\n"]}`,
			Frame{File: "/usr/local/lib/python3.12/site-packages/grpc/_channel.py", Line: 2, Func: "b"}},
		{"cause without a chain", `{"message":"outer","stack":[],"cause":{"message":"inner","stack":["  File \"/app/defs.py\", line 40, in <module>\n    x()\n"]}}`,
			Frame{File: "/app/defs.py", Line: 40, Func: "<module>"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := decodePythonError(t, tc.err).UserFrame()
			if !ok || got != tc.want {
				t.Errorf("UserFrame = %+v, %v; want %+v", got, ok, tc.want)
			}
		})
	}
	if f, ok := (&PythonError{Message: "DagsterUserCodeUnreachableError: Could not reach user code server"}).UserFrame(); ok {
		t.Errorf("an error with no location: UserFrame = %+v", f)
	}
	if got := (Frame{File: "/app/defs.py", Line: 40}).String(); got != "/app/defs.py:40" {
		t.Errorf("String = %q", got)
	}
}

func TestFrameInternal(t *testing.T) {
	for file, want := range map[string]bool{
		"/opt/dagster/app/repo.py":                                               false,
		"/home/me/project/my_pipeline/assets.py":                                 false,
		"/opt/dagster/app/dagster_stuff.py":                                      false,
		"/usr/local/lib/python3.12/site-packages/dagster/_core/errors.py":        true,
		"/usr/lib/python3/dist-packages/yaml/__init__.py":                        true,
		"/home/me/project/.venv/lib/python3.11/site-packages/pandas/__init__.py": true,
		"/usr/local/lib/python3.12/importlib/__init__.py":                        true,
		"<frozen importlib._bootstrap>":                                          true,
		"/src/dagster/python_modules/dagster/dagster/_core/code_pointer.py":      true,
		"/src/dagster/dagster/_grpc/server.py":                                   true,
	} {
		if got := (Frame{File: file, Line: 1}).Internal(); got != want {
			t.Errorf("Internal(%s) = %v, want %v", file, got, want)
		}
	}
}

func TestPythonErrorChainInMessage(t *testing.T) {
	msg := decodePythonError(t, userCodeLoadError).Error()
	for _, want := range []string{"DagsterUserCodeLoadError", "caused by: NameError: name 'undefined_thing' is not defined", `File "/opt/dagster/app/helpers.py", line 12`} {
		if !strings.Contains(msg, want) {
			t.Errorf("Error() lacks %q:\n%s", want, msg)
		}
	}
}
