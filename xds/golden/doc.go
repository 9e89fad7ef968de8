// Package golden compares generated configuration with the golden files
// that show it, for the tests of translation and bootstrap generation.
//
// Contract:
//   - Compare fails the test when the file differs from what was
//     generated, showing a line diff, or creates or rewrites the file when
//     asked to update; a missing file fails the test unless updating.
//   - LineDiff shows how one text became another, line by line, with two
//     lines of context around each change.
package golden
