package sources

import "testing"

func TestIsEditorTemp(t *testing.T) {
	temp := []string{
		".config.yaml.swp", ".config.yaml.swx", ".x.swo", "4913", "config.yaml~",
		"config.yaml___jb_tmp___", "config.yaml___jb_old___", "#config.yaml#", ".#config.yaml",
		"config.yaml.tmp", ".config.yaml.tmp.1234", "config.yaml.tmp-abc", ".x.kate-swp", "foo-go-tmp-umask", ".DS_Store",
		"main_flymake.py",
	}
	for _, n := range temp {
		if !IsEditorTemp(n) {
			t.Errorf("%q not recognised as an editor temp file", n)
		}
	}
	real := []string{".env", ".env.dagit", "config.yaml", "swp", "LOG_LEVEL", "app.json", "49130", "tmp", "template.yaml", "a.swp.yaml", "", "dir/x~"}
	for _, n := range real {
		if IsEditorTemp(n) {
			t.Errorf("%q wrongly ignored", n)
		}
	}
}
