//! Invalid session files are reported as one message naming file, line and column.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a failed unwrap is a failed test

mod support;

use std::path::Path;

use lucid_core::spec::SpecError;

fn error(source: &str) -> SpecError {
    lucid_core::spec::parse(Path::new("team.toml"), source, &support::catalog()).unwrap_err()
}

const VALID: &str = r#"name = "t"
task = "Write notes."

[environment]
kind = "workshop"

[agents.lead]
lead = true
delegates = ["worker"]

[agents.worker]
tools = ["note"]

[outcome]
[[outcome.criteria]]
id = "two"
description = "Two notes."
check = "notes >= 2"
"#;

/// The valid file with `from` replaced by `to`.
fn with(from: &str, to: &str) -> String {
    assert!(VALID.contains(from), "{from:?} not in the template");
    VALID.replacen(from, to, 1)
}

fn assert_error(source: &str, line: usize, column: usize, needle: &str) {
    let err = error(source);
    assert_eq!(err.position, Some((line, column)), "{err}");
    assert!(err.message.contains(needle), "{err}");
    let shown = err.to_string();
    assert!(
        shown.starts_with(&format!("team.toml:{line}:{column}: ")),
        "{shown}"
    );
}

#[test]
fn the_template_is_valid() {
    let spec = lucid_core::spec::parse(Path::new("team.toml"), VALID, &support::catalog()).unwrap();
    assert_eq!(spec.lead, "lead");
    assert_eq!(spec.agents["worker"].role, "worker");
    assert_eq!(spec.rubric.max_iterations, 3);
}

#[test]
fn toml_syntax_errors_have_positions() {
    assert_error(
        &with("task = \"Write notes.\"", "task = \"Write notes."),
        2,
        21,
        "",
    );
}

#[test]
fn unknown_keys_are_named_where_they_are() {
    assert_error(
        &with("tools = [\"note\"]", "tools = [\"note\"]\ncolour = \"red\""),
        13,
        1,
        "unknown field `colour`",
    );
    assert_error(
        &with("kind = \"workshop\"", "kind = \"workshop\"\nsede = 3"),
        6,
        1,
        "unknown field `sede`",
    );
}

#[test]
fn a_missing_or_doubled_lead_is_an_error() {
    let err = error(&with("lead = true\n", ""));
    assert!(err.message.contains("no agent is the lead"), "{err}");
    assert_error(
        &with("tools = [\"note\"]", "tools = [\"note\"]\nlead = true"),
        11,
        9,
        "both marked `lead = true`",
    );
}

#[test]
fn references_to_missing_things_are_errors() {
    assert_error(
        &with("delegates = [\"worker\"]", "delegates = [\"wrker\"]"),
        9,
        14,
        "delegates to `wrker`, which is not an agent",
    );
    assert_error(
        &with("lead = true", "lead = true\nmodel = \"gpt\""),
        9,
        9,
        "model profile `gpt`, which is not defined",
    );
    assert_error(
        &with("lead = true", "lead = true\nadvisor = \"mentor\""),
        9,
        11,
        "advisor names model profile `mentor`",
    );
    assert_error(
        &with("kind = \"workshop\"", "kind = \"lab\""),
        5,
        8,
        "unknown environment kind `lab` (known: workshop)",
    );
}

#[test]
fn delegation_cycles_are_errors() {
    let err = error(&with(
        "tools = [\"note\"]",
        "tools = [\"note\"]\ndelegates = [\"lead\"]",
    ));
    assert!(
        err.message
            .contains("delegation cycle: lead → worker → lead"),
        "{err}"
    );
    assert_eq!(err.position.map(|p| p.0), Some(7));
    let own = error(&with(
        "delegates = [\"worker\"]",
        "delegates = [\"worker\", \"lead\"]",
    ));
    assert!(
        own.message.contains("delegation cycle: lead → lead"),
        "{own}"
    );
}

#[test]
fn tools_the_environment_lacks_are_errors() {
    assert_error(
        &with("tools = [\"note\"]", "tools = [\"note\", \"shell\"]"),
        12,
        18,
        "tool `shell`, which neither environment `workshop` nor `[tools]` provides (available: note)",
    );
    assert_error(
        &with("tools = [\"note\"]", "tools = [\"delegate\"]"),
        12,
        10,
        "comes from `delegates`",
    );
}

#[test]
fn check_expressions_must_parse_and_name_known_facts() {
    assert_error(
        &with("check = \"notes >= 2\"", "check = \"notes >= \""),
        18,
        19,
        "check does not parse",
    );
    assert_error(
        &with(
            "check = \"notes >= 2\"",
            "check = \"notes >= 2 and pages > 1\"",
        ),
        18,
        25,
        "unknown fact `pages`",
    );
}

#[test]
fn scripted_agents_need_a_policy_for_their_role() {
    assert_error(
        &with("tools = [\"note\"]", "tools = [\"note\"]\nrole = \"poet\""),
        13,
        8,
        "",
    );
    let err = error(&with(
        "tools = [\"note\"]",
        "tools = [\"note\"]\nrole = \"poet\"",
    ));
    assert!(
        err.message.contains("no scripted policy for role `poet`"),
        "{err}"
    );
}

#[test]
fn limits_and_rubric_are_checked() {
    let err = error(&with("[outcome]", "[outcome]\nmax_iterations = 0"));
    assert!(
        err.message.contains("max_iterations` must be at least 1"),
        "{err}"
    );
    let err = error(&format!(
        "{VALID}\n[[outcome.criteria]]\nid = \"two\"\ndescription = \"again\"\n"
    ));
    assert!(
        err.message.contains("criterion id `two` is used twice"),
        "{err}"
    );
}

#[test]
fn a_missing_file_is_named() {
    let err =
        lucid_core::spec::load(Path::new("no/such/file.toml"), &support::catalog()).unwrap_err();
    assert_eq!(err.position, None);
    assert!(
        err.to_string()
            .starts_with("no/such/file.toml: cannot read the session file"),
        "{err}"
    );
}

#[test]
fn replay_profiles_name_a_session_and_only_they_do() {
    let replay = format!("{VALID}\n[models.rec]\nprovider = \"replay\"\nsession = \"01ABC\"\n");
    let spec =
        lucid_core::spec::parse(Path::new("team.toml"), &replay, &support::catalog()).unwrap();
    assert_eq!(spec.models["rec"].session.as_deref(), Some("01ABC"));
    assert_eq!(spec.models["rec"].model, None);
    assert_error(
        &format!("{VALID}\n[models.rec]\nprovider = \"replay\"\n"),
        20,
        9,
        "model profile `rec` uses provider `replay` but names no `session`",
    );
    assert_error(
        &format!(
            "{VALID}\n[models.big]\nprovider = \"openai\"\nmodel = \"m\"\nsession = \"01ABC\"\n"
        ),
        20,
        9,
        "uses provider `openai`, which takes no `session`",
    );
}

#[test]
fn the_dreaming_history_is_all_a_count_or_a_duration() {
    use lucid_core::spec::HistoryWindow;
    use std::time::Duration;
    let source = |value: &str| format!("{VALID}\n[dreaming]\nhistory = {value}\n");
    let history = |value: &str| {
        lucid_core::spec::parse(Path::new("team.toml"), &source(value), &support::catalog())
            .unwrap()
            .dreaming
            .history
    };
    let valid = lucid_core::spec::parse(Path::new("team.toml"), VALID, &support::catalog());
    assert_eq!(valid.unwrap().dreaming.history, HistoryWindow::All);
    assert_eq!(history("\"all\""), HistoryWindow::All);
    assert_eq!(history("24"), HistoryWindow::Sessions(24));
    assert_eq!(
        history("\"30d\""),
        HistoryWindow::Within(Duration::from_secs(30 * 86_400))
    );
    // The value's own line and column, and what would be right.
    let line = VALID.lines().count() + 3;
    for (value, needle) in [
        ("0", "a history of 0 sessions would mine nothing"),
        ("-2", "is not a history: use \"all\", a number of sessions"),
        ("\"soon\"", "is not a history"),
        ("1.5", "is not a history"),
        ("\"3y\"", "use s, m, h, d or w"),
        ("\"0d\"", "must be more than zero"),
    ] {
        assert_error(&source(value), line, 11, needle);
        assert!(
            error(&source(value))
                .message
                .starts_with("`dreaming.history`: "),
            "{value}"
        );
    }
}

#[test]
fn exploring_is_off_by_default_and_bounded() {
    let source = |value: &str| format!("{VALID}\n[dreaming]\nexplore = {value}\n");
    let explore = |text: &str| {
        lucid_core::spec::parse(Path::new("team.toml"), text, &support::catalog())
            .unwrap()
            .dreaming
            .explore
    };
    assert_eq!(explore(VALID), 0.0);
    assert_eq!(explore(&source("0.25")), 0.25);
    assert_eq!(explore(&source("0")), 0.0);
    let line = VALID.lines().count() + 3;
    for value in ["0.6", "-0.1", "1"] {
        assert_error(&source(value), line, 11, "from 0 (never) to 0.5");
    }
}

#[test]
fn a_profiles_turn_bounds_and_the_agent_budget_are_checked() {
    let profile = |keys: &str| {
        format!("{VALID}\n[models.net]\nprovider = \"openai\"\nmodel = \"m\"\n{keys}\n")
    };
    let spec =
        lucid_core::spec::parse(Path::new("team.toml"), &profile(""), &support::catalog()).unwrap();
    let net = &spec.models["net"];
    assert_eq!(
        (
            net.turn_timeout_s,
            net.max_response_bytes,
            net.max_tool_calls_per_turn
        ),
        (600, 4 << 20, 64),
        "the defaults"
    );
    assert_eq!(spec.limits.max_agents, 1000);
    for (keys, needle) in [
        (
            "turn_timeout_s = 0",
            "`turn_timeout_s` must be from 1 to 86400 (it is 0)",
        ),
        (
            "max_response_bytes = 10",
            "`max_response_bytes` must be from 1024",
        ),
        (
            "max_tool_calls_per_turn = 0",
            "`max_tool_calls_per_turn` must be from 1",
        ),
    ] {
        assert_error(&profile(keys), 20, 9, needle);
    }
    let err = error(&format!("{VALID}\n[limits]\nmax_agents = 0\n"));
    assert!(
        err.message
            .contains("`limits.max_agents` must be at least 1"),
        "{err}"
    );
}

#[test]
fn a_check_that_divides_by_zero_is_refused_where_the_zero_is() {
    assert_error(
        &with("check = \"notes >= 2\"", "check = \"notes / 0 >= 2\""),
        18,
        18,
        "criterion `two`: division by zero: `0` is always 0",
    );
    assert_error(
        &with("check = \"notes >= 2\"", "check = \"notes >= \\\"two\\\"\""),
        18,
        19,
        "`>=` only compares numbers, but `\"two\"` is text",
    );
}

#[test]
fn model_profiles_need_an_http_url_and_sane_limits() {
    let profile = |body: &str| format!("{VALID}\n[models.remote]\n{body}\n");
    let openai = "provider = \"openai\"\nmodel = \"m\"";
    for (extra, needle) in [
        (
            "base_url = \"ftp://example.com/v1\"",
            "must start with http:// or https://",
        ),
        (
            "base_url = \"localhost:11434\"",
            "must start with http:// or https://",
        ),
        ("base_url = \"not a url\"", "is not a URL"),
        (
            "max_retries = 4000000000",
            "`max_retries` is 4000000000; at most 100 ",
        ),
        (
            "latency_ms = 99999999999",
            "`latency_ms` is 99999999999; at most 60000",
        ),
    ] {
        assert_error(&profile(&format!("{openai}\n{extra}")), 20, 9, needle);
    }
    let fine = profile(&format!(
        "{openai}\nbase_url = \"http://127.0.0.1:8080/v1\"\nmax_retries = 5"
    ));
    lucid_core::spec::parse(Path::new("team.toml"), &fine, &support::catalog()).unwrap();
}
