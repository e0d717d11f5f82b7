//! Session-file errors for real work (project settings, facts from commands, `[tools]`,
//! `[mcp_servers]`, MCP tool patterns) name file, line and column, like every other.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

use std::path::Path;

use lucid_core::spec::SpecError;

const VALID: &str = r#"name = "t"
task = "Fix it."

[environment]
kind = "project"
root = "p"

[environment.facts.tests_pass]
command = "true"
kind = "exit_ok"

[tools.grep]
description = "Search."
command = ["grep", "-rn", "{pattern}", "."]
[tools.grep.input]
type = "object"
properties.pattern = { type = "string" }

[mcp_servers.fs]
command = "npx"
args = ["-y", "server", "{root}"]

[agents.lead]
lead = true
model = "test"
tools = ["shell", "grep", "fs.*"]

[outcome]
[[outcome.criteria]]
id = "green"
description = "Tests pass."
check = "tests_pass"
"#;

fn parse(source: &str) -> Result<lucid_core::spec::SessionSpec, SpecError> {
    lucid_core::spec::parse(Path::new("team.toml"), source, &lucid_envs::catalog())
}

fn with(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "{from:?} not in the template");
    VALID.replacen(from, to, 1)
}

fn assert_error(source: &str, line: usize, column: usize, needle: &str) {
    let err = parse(source).unwrap_err();
    assert_eq!(err.position, Some((line, column)), "{err}");
    assert!(err.message.contains(needle), "{err}");
    assert!(
        err.to_string()
            .starts_with(&format!("team.toml:{line}:{column}: ")),
        "{err}"
    );
}

#[test]
fn the_template_is_valid_and_resolved() {
    let spec = parse(VALID).unwrap();
    assert_eq!(spec.agents["lead"].tools, vec!["shell", "grep"]);
    assert_eq!(spec.agents["lead"].mcp_tools, vec!["fs.*"]);
    assert_eq!(spec.fact_commands[0].name, "tests_pass");
    assert_eq!(spec.command_tools["grep"].argv[2], "{pattern}");
    assert!(spec.mcp_servers.contains_key("fs"));
    assert!(spec
        .environment
        .secret_env
        .contains(&"OPENAI_API_KEY".to_string()));
}

#[test]
fn an_unknown_mcp_server_in_tools_is_named_with_its_position() {
    assert_error(
        &with("\"fs.*\"", "\"github.*\""),
        26,
        27,
        "no MCP server `github`",
    );
    assert_error(&with("\"fs.*\"", "\"fs.\""), 26, 27, "write `fs.*`");
}

#[test]
fn an_mcp_server_needs_a_command_or_a_url() {
    let source = with(
        "command = \"npx\"\nargs = [\"-y\", \"server\", \"{root}\"]",
        "startup_timeout_s = 3",
    );
    assert_error(&source, 19, 14, "needs either `command`");
    let source = with(
        "command = \"npx\"",
        "command = \"npx\"\nurl = \"http://127.0.0.1:1/mcp\"",
    );
    assert_error(&source, 19, 14, "not both");
}

#[test]
fn fact_commands_are_checked() {
    assert_error(
        &with("kind = \"exit_ok\"", "kind = \"exit\""),
        10,
        8,
        "unknown kind `exit`",
    );
    assert_error(
        &with("command = \"true\"", "command = \"\""),
        9,
        11,
        "`command` is empty",
    );
    assert_error(
        &with("check = \"tests_pass\"", "check = \"tests_passed\""),
        32,
        10,
        "unknown fact `tests_passed`",
    );
}

#[test]
fn json_facts_may_be_read_by_field() {
    let source = with("kind = \"exit_ok\"", "kind = \"json\"").replace(
        "check = \"tests_pass\"",
        "check = \"tests_pass.failed == 0\"",
    );
    assert!(parse(&source).is_ok());
}

#[test]
fn command_tools_are_checked() {
    assert_error(
        &with("\"{pattern}\"", "\"{patern}\""),
        14,
        11,
        "`{patern}` in `command` names no parameter",
    );
    assert_error(
        &VALID.replace("tools.grep", "tools.shell"),
        12,
        8,
        "already a built-in tool",
    );
    assert_error(
        &with("\"grep\", \"-rn\"", "\"\", \"-rn\""),
        14,
        11,
        "must name a program",
    );
}

#[test]
fn project_settings_are_checked() {
    assert_error(
        &with("root = \"p\"", "root = \"p\"\nisolation = \"clone\""),
        7,
        13,
        "unknown isolation `clone`",
    );
    assert_error(
        &with("root = \"p\"", "root = \"p\"\nsandbox = \"maybe\""),
        7,
        11,
        "unknown sandbox `maybe`",
    );
    let lumara = VALID.replace(
        "kind = \"project\"\nroot = \"p\"",
        "kind = \"lumara\"\nroot = \"p\"",
    );
    assert_error(
        &lumara,
        6,
        8,
        "`environment.root` applies to environments that work in a folder",
    );
}

#[test]
fn a_check_that_no_fact_can_satisfy_is_refused_where_it_is() {
    let text_fact = with(
        "check = \"tests_pass\"",
        "check = \"tests_pass and log > 3\"\n\n[environment.facts.log]\ncommand = \"cat log\"\nkind = \"text\"",
    );
    assert_error(
        &text_fact,
        32,
        25,
        "`>` only compares numbers, but `log` is text",
    );
    assert_error(
        &with("check = \"tests_pass\"", "check = \"tests_pass == 1\""),
        32,
        10,
        "`==` cannot compare `tests_pass` (true or false) with `1` (a number)",
    );
}

#[test]
fn declared_choices_name_arguments_of_tools_the_session_offers() {
    let dreaming = |choices: &str| format!("{VALID}\n[dreaming]\nchoices = [{choices}]\n");
    // A `[tools]` argument, an environment tool's and an MCP server's tool's.
    let spec = parse(&dreaming(
        r#""grep.pattern", "shell.command", "fs__read_file.path""#,
    ))
    .unwrap();
    assert_eq!(
        spec.dreaming.choices,
        ["grep.pattern", "shell.command", "fs__read_file.path"]
    );
    // A server whose name ends in `_`, its tools listed by pattern.
    let underscored = dreaming(r#""ops___deploy.strategy""#)
        .replace(
            "[mcp_servers.fs]",
            "[mcp_servers.ops_]\ncommand = \"npx\"\n\n[mcp_servers.fs]",
        )
        .replace(r#""fs.*"]"#, r#""fs.*", "ops_.deploy"]"#);
    let spec = parse(&underscored).unwrap();
    assert_eq!(spec.dreaming.choices, ["ops___deploy.strategy"]);
    let line = VALID.lines().count() + 3;
    let cases = [
        (r#""grep""#, "must be TOOL.ARGUMENT"),
        (
            r#""grep.flags""#,
            "tool `grep` has no argument `flags` (its `input.properties`: pattern)",
        ),
        (r#""deploy.strategy""#, "names no tool the session offers"),
        (r#""git__log.n""#, "names no tool the session offers"),
        (r#""grep. pattern""#, "with no spaces"),
        (
            r#""list_files.path""#,
            "no agent lists the tool `list_files`",
        ),
        (
            r#""grep.pattern", "grep.pattern""#,
            "lists `grep.pattern` twice",
        ),
    ];
    for (choices, needle) in cases {
        let source = dreaming(choices);
        let err = parse(&source).unwrap_err();
        assert_eq!(err.position.map(|(l, _)| l), Some(line), "{choices}: {err}");
        assert!(err.message.contains(needle), "{choices}: {err}");
    }
}
