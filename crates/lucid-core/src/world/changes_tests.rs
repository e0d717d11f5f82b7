//! Tests of comparing trees and applying change sets.

use super::*;

fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let full = dir.path().join(path);
        fs::create_dir_all(full.parent().unwrap()).unwrap();
        fs::write(full, text).unwrap();
    }
    dir
}

#[test]
fn compare_lists_each_kind_of_change_with_a_unified_diff() {
    let base = tree(&[
        ("a.txt", "one\ntwo\n"),
        ("gone.txt", "x\n"),
        ("same.txt", "s\n"),
    ]);
    let root = tree(&[
        ("a.txt", "one\n2\n"),
        ("new/b.txt", "b\n"),
        ("same.txt", "s\n"),
    ]);
    let set = compare(base.path(), root.path(), &[]).unwrap();
    let summary: Vec<(&str, ChangeKind, u32, u32)> = set
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.change, f.lines_added, f.lines_removed))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("a.txt", ChangeKind::Modified, 1, 1),
            ("gone.txt", ChangeKind::Deleted, 0, 1),
            ("new/b.txt", ChangeKind::Added, 1, 0),
        ]
    );
    assert!(
        set.diff.contains("--- a/a.txt\n+++ b/a.txt\n"),
        "{}",
        set.diff
    );
    assert!(set.diff.contains("-two\n+2\n"), "{}", set.diff);
    assert!(
        set.diff.contains("--- /dev/null\n+++ b/new/b.txt"),
        "{}",
        set.diff
    );
}

#[test]
fn ignored_and_excluded_files_are_not_changes() {
    let base = tree(&[(".gitignore", "/target\n*.log\n"), ("src.rs", "a\n")]);
    let root = tree(&[
        (".gitignore", "/target\n*.log\n"),
        ("src.rs", "a\n"),
        ("target/debug/out", "bin"),
        ("run.log", "log"),
        ("cache/x", "c"),
    ]);
    let set = compare(base.path(), root.path(), &["cache".into()]).unwrap();
    assert!(set.files.is_empty(), "{:?}", set.files);
}

#[test]
fn apply_writes_the_change_and_refuses_when_the_project_moved() {
    let project = tree(&[("a.txt", "one\n"), ("gone.txt", "x\n")]);
    let work = tree(&[("a.txt", "ONE\n"), ("added.txt", "new\n")]);
    let set = compare(project.path(), work.path(), &[]).unwrap();
    assert_eq!(set.files.len(), 3);

    // The project changed underneath in a file the session changed: refused, untouched.
    fs::write(project.path().join("a.txt"), "edited by hand\n").unwrap();
    let err = apply(&set.files, work.path(), project.path()).unwrap_err();
    assert_eq!(err, ApplyError::Conflicts(vec!["a.txt".into()]));
    assert!(project.path().join("gone.txt").exists());
    assert!(!project.path().join("added.txt").exists());

    fs::write(project.path().join("a.txt"), "one\n").unwrap();
    let applied = apply(&set.files, work.path(), project.path()).unwrap();
    assert_eq!(applied.changed.len(), 3);
    assert_eq!(
        fs::read_to_string(project.path().join("a.txt")).unwrap(),
        "ONE\n"
    );
    assert_eq!(
        fs::read_to_string(project.path().join("added.txt")).unwrap(),
        "new\n"
    );
    assert!(!project.path().join("gone.txt").exists());

    // Applying again changes nothing and says so.
    let again = apply(&set.files, work.path(), project.path()).unwrap();
    assert!(again.changed.is_empty());
    assert_eq!(again.already.len(), 3);

    // A working copy edited after the record is refused.
    fs::write(work.path().join("a.txt"), "later\n").unwrap();
    let err = apply(&set.files, work.path(), project.path()).unwrap_err();
    assert!(matches!(err, ApplyError::WorkChanged(_)), "{err}");
}

#[test]
fn apply_never_writes_through_a_linked_folder_of_the_project() {
    let outside = tempfile::tempdir().unwrap();
    let project = tree(&[(".gitignore", "data\n")]);
    std::os::unix::fs::symlink(outside.path(), project.path().join("data")).unwrap();
    let base = tree(&[(".gitignore", "data\n")]);
    let work = tree(&[(".gitignore", ""), ("data/owned.txt", "PWNED\n")]);
    let set = compare(base.path(), work.path(), &[]).unwrap();
    assert!(
        set.files.iter().any(|f| f.path == "data/owned.txt"),
        "{:?}",
        set.files
    );
    let err = apply(&set.files, work.path(), project.path()).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(!outside.path().join("owned.txt").exists());
}

#[test]
fn a_folder_may_become_a_file_and_a_gitignore_edit_hides_nothing() {
    let project = tree(&[("d/x.txt", "x\n"), ("keep/a.txt", "a\n")]);
    let work = tree(&[
        ("d", "now a file\n"),
        ("keep/a.txt", "edited\n"),
        (".gitignore", "keep/\n"),
    ]);
    let set = compare(project.path(), work.path(), &[]).unwrap();
    let kinds: Vec<(&str, ChangeKind)> = set
        .files
        .iter()
        .map(|f| (f.path.as_str(), f.change))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (".gitignore", ChangeKind::Added),
            ("d", ChangeKind::Added),
            ("d/x.txt", ChangeKind::Deleted),
            ("keep/a.txt", ChangeKind::Modified),
        ]
    );
    apply(&set.files, work.path(), project.path()).unwrap();
    assert_eq!(
        fs::read_to_string(project.path().join("d")).unwrap(),
        "now a file\n"
    );
    assert_eq!(
        fs::read_to_string(project.path().join("keep/a.txt")).unwrap(),
        "edited\n"
    );
}

#[test]
fn big_files_are_hashed_without_being_held() {
    let base = tree(&[]);
    let root = tree(&[]);
    let file = fs::File::create(root.path().join("big.bin")).unwrap();
    file.set_len(3 * MAX_TEXT_BYTES).unwrap();
    let set = compare(base.path(), root.path(), &[]).unwrap();
    assert_eq!(set.files.len(), 1);
    assert!(set.files[0].binary);
    assert!(set.diff.contains("Binary files"), "{}", set.diff);
}

#[test]
fn a_new_executable_bit_is_a_change_that_applies() {
    use std::os::unix::fs::PermissionsExt;
    let project = tree(&[("run.sh", "echo hi\n")]);
    let work = tree(&[("run.sh", "echo hi\n")]);
    fs::set_permissions(
        work.path().join("run.sh"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let set = compare(project.path(), work.path(), &[]).unwrap();
    assert_eq!(set.files.len(), 1, "{:?}", set.files);
    assert!(
        set.diff.contains("old mode 100644\nnew mode 100755"),
        "{}",
        set.diff
    );
    apply(&set.files, work.path(), project.path()).unwrap();
    let mode = fs::metadata(project.path().join("run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111);
}
