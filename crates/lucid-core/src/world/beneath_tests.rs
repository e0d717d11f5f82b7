//! `Beneath` on real folders, with both resolvers (the kernel's `openat2` and the walk
//! kept for kernels without it): links inside are followed, links out are refused, writes
//! make their folders, and a concurrent link swapper never gets a read or write outside.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::*;

/// `root/` with `a.txt`, `sub/b.txt`, links inside (`alias.txt`, `up.txt`, `subdir`) and
/// links out (`abs`, `dotdot`, `dangling`, `outdir`); `outside/secret.txt` beside it.
fn fixture() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    std::fs::write(dir.path().join("outside/secret.txt"), "SECRET").unwrap();
    std::fs::write(root.join("a.txt"), "A").unwrap();
    std::fs::write(root.join("sub/b.txt"), "B").unwrap();
    symlink("a.txt", root.join("alias.txt")).unwrap();
    symlink("../a.txt", root.join("sub/up.txt")).unwrap();
    symlink("sub", root.join("subdir")).unwrap();
    symlink(dir.path().join("outside/secret.txt"), root.join("abs")).unwrap();
    symlink("../outside/secret.txt", root.join("dotdot")).unwrap();
    symlink("../outside/missing.txt", root.join("dangling")).unwrap();
    symlink("../outside", root.join("outdir")).unwrap();
    (dir, root)
}

fn both(root: &Path, links: Links) -> [Beneath; 2] {
    [
        Beneath::open(root, links).unwrap(),
        Beneath::open(root, links).unwrap().walking(),
    ]
}

fn text(folder: &Beneath, path: &str) -> Result<String, PathError> {
    match folder.open_path(path)? {
        Opened::File(file) => Ok(file.text().unwrap()),
        Opened::Folder(_) => Ok("<folder>".into()),
        Opened::Other => Ok("<other>".into()),
    }
}

#[test]
fn links_inside_are_followed_and_links_out_refused() {
    let (_dir, root) = fixture();
    for folder in both(&root, Links::Inside) {
        assert_eq!(text(&folder, "a.txt").unwrap(), "A");
        assert_eq!(text(&folder, "alias.txt").unwrap(), "A");
        assert_eq!(text(&folder, "sub/up.txt").unwrap(), "A");
        assert_eq!(text(&folder, "subdir/b.txt").unwrap(), "B");
        assert_eq!(text(&folder, "sub").unwrap(), "<folder>");
        assert_eq!(text(&folder, "").unwrap(), "<folder>");
        for out in ["abs", "dotdot", "dangling", "outdir/secret.txt", "outdir"] {
            assert_eq!(text(&folder, out), Err(PathError::Escapes), "{out}");
        }
        assert_eq!(text(&folder, "missing.txt"), Err(PathError::NotFound));
        assert_eq!(text(&folder, "a.txt/x"), Err(PathError::NotAFolderOnTheWay));
    }
    for folder in both(&root, Links::Refused) {
        assert_eq!(text(&folder, "a.txt").unwrap(), "A");
        assert_eq!(text(&folder, "alias.txt"), Err(PathError::Escapes));
        assert_eq!(text(&folder, "subdir/b.txt"), Err(PathError::Escapes));
    }
}

#[test]
fn writes_make_their_folders_and_never_go_through_links_out() {
    let (dir, root) = fixture();
    for (i, folder) in both(&root, Links::Inside).into_iter().enumerate() {
        let path = format!("new-{i}/deeper/c.txt");
        assert_eq!(folder.write(&path, b"C"), Ok(false));
        assert_eq!(folder.write(&path, b"CC"), Ok(true));
        assert_eq!(std::fs::read_to_string(root.join(&path)).unwrap(), "CC");
        // Through a link to a folder inside: fine.
        assert_eq!(folder.write(&format!("subdir/w-{i}.txt"), b"W"), Ok(false));
        assert!(root.join(format!("sub/w-{i}.txt")).exists());
        assert_eq!(folder.write("outdir/x.txt", b"X"), Err(PathError::Escapes));
        assert_eq!(folder.write("abs", b"X"), Err(PathError::Escapes));
        assert_eq!(folder.write("dotdot", b"X"), Err(PathError::Escapes));
        assert_eq!(
            folder.write("a.txt/x.txt", b"X"),
            Err(PathError::PartIsAFile("a.txt".into()))
        );
        assert_eq!(folder.write("sub", b"X"), Err(PathError::IsAFolder));
    }
    assert_eq!(
        std::fs::read_to_string(dir.path().join("outside/secret.txt")).unwrap(),
        "SECRET"
    );
    assert!(!dir.path().join("outside/x.txt").exists());
    assert!(!dir.path().join("outside/missing.txt").exists());
}

#[test]
fn a_fifo_is_neither_read_nor_written() {
    let (_dir, root) = fixture();
    rustix::fs::mkfifoat(
        rustix::fs::CWD,
        root.join("pipe"),
        Mode::from_raw_mode(0o600),
    )
    .unwrap();
    for folder in both(&root, Links::Inside) {
        assert_eq!(text(&folder, "pipe").unwrap(), "<other>");
        assert_eq!(folder.write("pipe", b"x"), Err(PathError::NotAFile));
    }
}

#[test]
fn entries_and_links_are_seen_without_following() {
    let (_dir, root) = fixture();
    for folder in both(&root, Links::Refused) {
        let entries = folder.entries().unwrap();
        let kind = |name: &str| entries.iter().find(|e| e.name == name).map(|e| e.kind);
        assert_eq!(kind("a.txt"), Some(EntryKind::File));
        assert_eq!(kind("sub"), Some(EntryKind::Folder));
        assert_eq!(kind("subdir"), Some(EntryKind::Link));
        assert!(matches!(folder.entry("abs").unwrap(), Some(Found::Link(_))));
        assert!(matches!(
            folder.entry("a.txt").unwrap(),
            Some(Found::File(_))
        ));
        assert!(folder.entry("subdir/b.txt").unwrap().is_none());
        assert!(folder.entry("nothing").unwrap().is_none());
    }
}

/// Exchanges `a` and `b` until the flag is set.
fn swapper(a: PathBuf, b: PathBuf, stop: Arc<AtomicBool>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            rustix::fs::renameat_with(
                rustix::fs::CWD,
                &a,
                rustix::fs::CWD,
                &b,
                rustix::fs::RenameFlags::EXCHANGE,
            )
            .unwrap();
        }
    })
}

#[test]
fn a_swapped_link_is_never_followed_out_by_either_resolver() {
    let (dir, root) = fixture();
    std::fs::write(root.join("sub/secret.txt"), "INSIDE").unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    // `sub` is the real folder one moment, a link to the outside the next.
    symlink(dir.path().join("outside"), root.join("sub_alt")).unwrap();
    let thread = swapper(root.join("sub"), root.join("sub_alt"), Arc::clone(&stop));
    let mut inside = 0;
    for (i, folder) in both(&root, Links::Inside).into_iter().enumerate() {
        for n in 0..1_000 {
            if let Ok(found) = text(&folder, "sub/secret.txt") {
                assert_ne!(found, "SECRET", "a read escaped (resolver {i})");
                inside += 1;
            }
            let _ = folder.write(&format!("sub/w-{i}-{n}.txt"), b"x");
        }
    }
    stop.store(true, Ordering::Relaxed);
    thread.join().unwrap();
    let outside: Vec<_> = std::fs::read_dir(dir.path().join("outside"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(outside.len(), 1, "writes escaped: {outside:?}");
    assert!(inside > 0, "the race never let a read through");
}

#[test]
fn deep_folders_are_made_one_step_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = vec!["d"; crate::world::paths::MAX_PATH_DEPTH - 1].join("/") + "/f.txt";
    for folder in [
        Beneath::open(dir.path(), Links::Inside).unwrap(),
        Beneath::open(dir.path(), Links::Inside).unwrap().walking(),
    ] {
        assert!(folder.write(&path, b"deep").is_ok());
        assert_eq!(text(&folder, &path).unwrap(), "deep");
    }
}
