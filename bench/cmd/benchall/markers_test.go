package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const history = "# Isthmus benchmark results\n\nIntro.\n\n## Machine\n\nhand-written\n\n## Go benchmarks (2026-11-22)\n\n| old | table |\n"

func TestReplaceSectionInsertsMarkersBeforeTheFirstSection(t *testing.T) {
	got, err := replaceSection(history, "new figures\n")
	if err != nil {
		t.Fatal(err)
	}
	want := "# Isthmus benchmark results\n\nIntro.\n\n" +
		"## Latest `make bench`\n\n" + beginMarker + "\nnew figures\n" + endMarker + "\n\n" +
		"## Machine\n\nhand-written\n\n## Go benchmarks (2026-11-22)\n\n| old | table |\n"
	if got != want {
		t.Errorf("replaceSection =\n%s\nwant\n%s", got, want)
	}
}

func TestReplaceSectionReplacesOnlyBetweenMarkers(t *testing.T) {
	first, err := replaceSection(history, "run one\n")
	if err != nil {
		t.Fatal(err)
	}
	second, err := replaceSection(first, "run two\nmore\n")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(second, "run one") || !strings.Contains(second, beginMarker+"\nrun two\nmore\n"+endMarker) {
		t.Errorf("second run did not replace the first:\n%s", second)
	}
	if strings.Count(second, sectionHeader) != 1 || strings.Count(second, beginMarker) != 1 {
		t.Errorf("heading or markers duplicated:\n%s", second)
	}
	before, _, _ := strings.Cut(first, beginMarker)
	before2, _, _ := strings.Cut(second, beginMarker)
	_, after, _ := strings.Cut(first, endMarker)
	_, after2, _ := strings.Cut(second, endMarker)
	if before != before2 || after != after2 {
		t.Errorf("text outside the markers changed:\n%s", second)
	}
	again, _ := replaceSection(second, "run two\nmore\n")
	if again != second {
		t.Errorf("the same section twice changed the file")
	}
}

func TestReplaceSectionKeepsMarkersWhereTheyAre(t *testing.T) {
	doc := "# T\n\n## History\n\nold\n\n## Latest\n\n" + beginMarker + "\nstale\n" + endMarker + "\n\ntail\n"
	got, err := replaceSection(doc, "fresh")
	if err != nil {
		t.Fatal(err)
	}
	want := "# T\n\n## History\n\nold\n\n## Latest\n\n" + beginMarker + "\nfresh\n" + endMarker + "\n\ntail\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestReplaceSectionWithoutSectionsAppendsOrCreates(t *testing.T) {
	got, err := replaceSection("# Only a title\n", "x")
	if err != nil {
		t.Fatal(err)
	}
	if want := "# Only a title\n\n" + sectionHeader + "\n\n" + beginMarker + "\nx\n" + endMarker + "\n"; got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got, err = replaceSection("", "x")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, defaultTitle+"\n\n"+sectionHeader) {
		t.Errorf("an empty file got no title and heading:\n%s", got)
	}
}

func TestReplaceSectionRefusesBrokenMarkers(t *testing.T) {
	for name, doc := range map[string]string{
		"begin only":       "a\n" + beginMarker + "\nb\n",
		"end only":         "a\n" + endMarker + "\nb\n",
		"end before begin": endMarker + "\n" + beginMarker + "\n",
	} {
		if got, err := replaceSection(doc, "x"); err == nil {
			t.Errorf("%s: no error, got\n%s", name, got)
		}
	}
}

func TestWriteSectionCreatesAndUpdatesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "RESULTS.md")
	if err := writeSection(path, "one"); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, append(mustRead(t, path), "\n## History\n\nkept\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := writeSection(path, "two"); err != nil {
		t.Fatal(err)
	}
	got := string(mustRead(t, path))
	if !strings.Contains(got, beginMarker+"\ntwo\n"+endMarker) || strings.Contains(got, "\none\n") || !strings.HasSuffix(got, "## History\n\nkept\n") {
		t.Errorf("file after two runs:\n%s", got)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}
