//! The Docker build context (`deploy/Dockerfile.dockerignore`) is an
//! allowlist: a workspace member or root build file missing from it breaks
//! `docker build` ("failed to load manifest for workspace member") without
//! any other test noticing.

use std::path::Path;

fn repo_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{}: {e}", full.display()))
}

/// The `members = [...]` of the root manifest's `[workspace]`.
fn workspace_members() -> Vec<String> {
    let manifest: toml::Table = repo_file("Cargo.toml").parse().expect("Cargo.toml parses");
    manifest["workspace"]["members"]
        .as_array()
        .expect("workspace.members is a list")
        .iter()
        .map(|m| m.as_str().expect("a member is a path").to_owned())
        .collect()
}

#[test]
fn docker_context_keeps_every_workspace_member_and_root_build_file() {
    let allowlist = repo_file("deploy/Dockerfile.dockerignore");
    let kept: Vec<&str> = allowlist
        .lines()
        .filter_map(|l| l.trim().strip_prefix('!'))
        .collect();
    let members = workspace_members();
    assert!(members.len() >= 9, "members: {members:?}");
    let mut needed: Vec<String> = members.iter().map(|m| format!("{m}/")).collect();
    needed.extend(["Cargo.toml", "Cargo.lock", "build.rs", "src/"].map(String::from));
    let missing: Vec<&String> = needed
        .iter()
        .filter(|n| !kept.contains(&n.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "deploy/Dockerfile.dockerignore leaves out {missing:?}, which `cargo build -p tollgate` reads"
    );
}
