//! Turns a parsed session file into a [`SessionSpec`], or says precisely what is wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use toml::Spanned;

use super::check::CheckExpr;
use super::types::{ModelProfile, ProviderKind, SessionFile, DEFAULT_MODEL};
use super::{
    line_column, AgentSpec, Criterion, DreamingSpec, EnvironmentCatalog, HistoryError,
    HistoryWindow, Rubric, SessionSpec, SpecError,
};

/// The orchestration tools the runner provides; agents get them through `delegates` and
/// `advisor`, not by listing them.
pub const DELEGATE_TOOL: &str = "delegate";
pub const ADVISOR_TOOL: &str = "ask_advisor";

/// The most agents that may work at once (far above what a machine runs well).
pub const MAX_PARALLEL: usize = 1_000_000;

pub(super) struct Reporter<'a> {
    path: &'a Path,
    source: &'a str,
}

impl Reporter<'_> {
    pub(super) fn at(&self, offset: usize, message: impl Into<String>) -> SpecError {
        SpecError {
            path: self.path.to_path_buf(),
            position: Some(line_column(self.source, offset)),
            message: message.into(),
        }
    }

    pub(super) fn at_span<T>(&self, value: &Spanned<T>, message: impl Into<String>) -> SpecError {
        // Defaults carry an empty 0..0 span: they have no position in the file.
        if value.span() == (0..0) {
            return self.nowhere(message);
        }
        self.at(value.span().start, message)
    }

    pub(super) fn nowhere(&self, message: impl Into<String>) -> SpecError {
        SpecError {
            path: self.path.to_path_buf(),
            position: None,
            message: message.into(),
        }
    }
}

pub(super) fn list(names: impl IntoIterator<Item = impl AsRef<str>>) -> String {
    let names: Vec<String> = names.into_iter().map(|n| n.as_ref().to_string()).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// Checks every rule of the session-file format; the first problem found is returned.
pub fn validate(
    path: &Path,
    source: &str,
    file: SessionFile,
    catalog: &EnvironmentCatalog,
) -> Result<SessionSpec, SpecError> {
    validate_with(
        path,
        source,
        file,
        catalog,
        &crate::config::UserConfig::default(),
    )
}

/// [`validate`], with model profiles and MCP servers from the user's config file that the
/// session's own override (already checked by the config loader).
pub fn validate_with(
    path: &Path,
    source: &str,
    file: SessionFile,
    catalog: &EnvironmentCatalog,
    user: &crate::config::UserConfig,
) -> Result<SessionSpec, SpecError> {
    let user_models = &user.models;
    let report = Reporter { path, source };

    let kind = &file.environment.kind;
    let capabilities = catalog.get(kind.get_ref()).ok_or_else(|| {
        report.at_span(
            kind,
            format!(
                "unknown environment kind `{}` (known: {})",
                kind.get_ref(),
                list(catalog.keys())
            ),
        )
    })?;

    // Model profiles: the built-in offline profile, the user's config, the file's own.
    let mut models: BTreeMap<String, ModelProfile> = BTreeMap::new();
    models.insert(DEFAULT_MODEL.to_string(), ModelProfile::scripted());
    models.insert(super::TEST_MODEL.to_string(), ModelProfile::test());
    models.extend(user_models.iter().map(|(k, v)| (k.clone(), v.clone())));
    for (name, profile) in &file.models {
        if let Some(problem) = profile.key_problem(name.get_ref()) {
            return Err(report.at_span(name, problem));
        }
        models.insert(name.get_ref().clone(), profile.clone());
    }
    let model_exists = |name: &Spanned<String>, what: &str| {
        if models.contains_key(name.get_ref()) {
            Ok(name.get_ref().clone())
        } else {
            Err(report.at_span(
                name,
                format!(
                    "{what} names model profile `{}`, which is not defined (defined: {})",
                    name.get_ref(),
                    list(models.keys())
                ),
            ))
        }
    };
    let needs_role = |profile: &str, role: &str, at: &dyn Fn(String) -> SpecError| {
        let scripted = models
            .get(profile)
            .is_some_and(|p| p.provider == ProviderKind::Scripted);
        if scripted && !capabilities.roles.iter().any(|r| r == role) {
            return Err(at(format!(
                "`{profile}` is a scripted model, but environment `{}` has no scripted policy for role `{role}` (it has: {})",
                kind.get_ref(),
                list(&capabilities.roles)
            )));
        }
        Ok(())
    };

    let fact_commands = super::real_work::environment(&report, &file.environment, capabilities)?;
    let command_tools =
        super::real_work::command_tools(&report, &file.tools, capabilities, kind.get_ref())?;
    let declared_servers =
        super::real_work::mcp_servers(&report, &file.mcp_servers, &user.mcp_servers)?;

    // Agents.
    if file.agents.is_empty() {
        return Err(report.nowhere("the session has no agents; add an [agents.NAME] table"));
    }
    let agent_names: BTreeSet<&str> = file.agents.keys().map(|k| k.get_ref().as_str()).collect();
    let mut leads = file.agents.iter().filter(|(_, agent)| agent.lead);
    let lead = match (leads.next(), leads.next()) {
        (Some((name, _)), None) => name.get_ref().clone(),
        (None, _) => {
            return Err(report.nowhere(format!(
                "no agent is the lead; set `lead = true` on one of: {}",
                list(&agent_names)
            )))
        }
        (Some((first, _)), Some((second, _))) => {
            return Err(report.at_span(
                second,
                format!(
                    "agents `{}` and `{}` are both marked `lead = true`; a team has one lead",
                    first.get_ref(),
                    second.get_ref()
                ),
            ))
        }
    };

    let mut agents = BTreeMap::new();
    for (name, entry) in &file.agents {
        let name_str = name.get_ref();
        if entry.max_turns == 0 {
            return Err(report.at_span(
                name,
                format!("agent `{name_str}`: `max_turns` must be at least 1"),
            ));
        }
        let model = model_exists(&entry.model, &format!("agent `{name_str}`"))?;
        let role = entry
            .role
            .as_ref()
            .map_or_else(|| name_str.clone(), |r| r.get_ref().clone());
        needs_role(&model, &role, &|message| {
            let message = format!(
                "agent `{name_str}`: {message}; set `role` to one of them or use another model"
            );
            match (&entry.role, entry.model.span() == (0..0)) {
                (Some(role), _) => report.at_span(role, message),
                (None, false) => report.at_span(&entry.model, message),
                (None, true) => report.at_span(name, message),
            }
        })?;
        let mut delegates = Vec::new();
        for delegate in &entry.delegates {
            if !agent_names.contains(delegate.get_ref().as_str()) {
                return Err(report.at_span(
                    delegate,
                    format!(
                        "agent `{name_str}` delegates to `{}`, which is not an agent of this team (agents: {})",
                        delegate.get_ref(),
                        list(&agent_names)
                    ),
                ));
            }
            if delegates.contains(delegate.get_ref()) {
                return Err(report.at_span(
                    delegate,
                    format!(
                        "agent `{name_str}` lists delegate `{}` twice",
                        delegate.get_ref()
                    ),
                ));
            }
            delegates.push(delegate.get_ref().clone());
        }
        let advisor = match &entry.advisor {
            Some(advisor) => {
                let profile = model_exists(advisor, &format!("agent `{name_str}`'s advisor"))?;
                needs_role(&profile, "advisor", &|message| {
                    report.at_span(advisor, format!("agent `{name_str}`'s advisor: {message}"))
                })?;
                Some(profile)
            }
            None => None,
        };
        let mut tools = Vec::new();
        let mut mcp_tools = Vec::new();
        for tool in &entry.tools {
            let tool_name = tool.get_ref();
            if let Some((server, rest)) = tool_name.split_once('.') {
                if !declared_servers.contains_key(server) {
                    return Err(report.at_span(
                        tool,
                        format!(
                            "agent `{name_str}` lists `{tool_name}`, but there is no MCP server `{server}` (declared in [mcp_servers]: {})",
                            list(declared_servers.keys())
                        ),
                    ));
                }
                if rest.is_empty() {
                    return Err(report.at_span(
                        tool,
                        format!("agent `{name_str}` lists `{tool_name}`: write `{server}.*` for every tool of the server, or `{server}.TOOL`"),
                    ));
                }
                if !mcp_tools.contains(tool_name) {
                    mcp_tools.push(tool_name.clone());
                }
                continue;
            }
            let orchestration = match tool_name.as_str() {
                DELEGATE_TOOL => Some(!delegates.is_empty()),
                ADVISOR_TOOL => Some(advisor.is_some()),
                _ => None,
            };
            match orchestration {
                Some(true) => continue,
                Some(false) => {
                    return Err(report.at_span(
                        tool,
                        format!("agent `{name_str}` lists `{tool_name}`, which comes from `delegates` / `advisor`; set those instead"),
                    ))
                }
                None => {}
            }
            if !capabilities.tools.iter().any(|t| t == tool_name)
                && !command_tools.contains_key(tool_name)
            {
                return Err(report.at_span(
                    tool,
                    format!(
                        "agent `{name_str}` lists tool `{tool_name}`, which neither environment `{}` nor `[tools]` provides (available: {})",
                        kind.get_ref(),
                        list(capabilities.tools.iter().chain(command_tools.keys()))
                    ),
                ));
            }
            if tools.contains(tool_name) {
                return Err(report.at_span(
                    tool,
                    format!("agent `{name_str}` lists tool `{tool_name}` twice"),
                ));
            }
            tools.push(tool_name.clone());
        }
        agents.insert(
            name_str.clone(),
            AgentSpec {
                name: name_str.clone(),
                role,
                prompt: entry.prompt.clone(),
                model,
                tools,
                mcp_tools,
                delegates,
                advisor,
                max_turns: entry.max_turns,
            },
        );
    }
    if let Some(cycle) = find_cycle(&agents) {
        let message = format!("delegation cycle: {}", cycle.join(" → "));
        let first = file
            .agents
            .keys()
            .find(|k| Some(k.get_ref()) == cycle.first());
        return Err(match first {
            Some(key) => report.at_span(key, message),
            None => report.nowhere(message),
        });
    }

    // Outcome.
    let outcome = &file.outcome;
    if outcome.max_iterations == 0 {
        return Err(report.nowhere("`outcome.max_iterations` must be at least 1"));
    }
    if outcome.criteria.is_empty() {
        return Err(
            report.nowhere("the rubric has no criteria; add at least one [[outcome.criteria]]")
        );
    }
    let grader = model_exists(&outcome.grader, "`outcome.grader`")?;
    let mut criteria: Vec<Criterion> = Vec::new();
    for entry in &outcome.criteria {
        let id = entry.id.get_ref();
        if id.trim().is_empty() {
            return Err(report.at_span(&entry.id, "a criterion's `id` must not be empty"));
        }
        if criteria.iter().any(|c| &c.id == id) {
            return Err(report.at_span(&entry.id, format!("criterion id `{id}` is used twice")));
        }
        let check = match &entry.check {
            Some(text) => {
                let content_start = text.span().start + quote_len(source, text.span().start);
                let expr = CheckExpr::parse(text.get_ref()).map_err(|err| {
                    report.at(
                        content_start + err.offset,
                        format!("criterion `{id}`: check does not parse: {}", err.message),
                    )
                })?;
                for (fact, offset) in expr.facts() {
                    if !super::real_work::fact_known(&fact, capabilities, &fact_commands) {
                        return Err(report.at(
                            content_start + offset,
                            format!(
                                "criterion `{id}`: check names unknown fact `{fact}` (environment `{}` and `[environment.facts]` report: {})",
                                kind.get_ref(),
                                list(capabilities.facts.iter().chain(fact_commands.iter().map(|c| &c.name)))
                            ),
                        ));
                    }
                }
                let declared = |fact: &str| super::real_work::fact_type(fact, &fact_commands);
                if let Some(problem) = expr.static_problem(&declared) {
                    return Err(report.at(
                        content_start + problem.offset,
                        format!("criterion `{id}`: {}", problem.message),
                    ));
                }
                Some(expr)
            }
            None => {
                needs_role(&grader, "grader", &|message| {
                    report.at_span(&entry.id, format!("criterion `{id}` has no `check`, so the grader model judges it, but {message}"))
                })?;
                None
            }
        };
        criteria.push(Criterion {
            id: id.clone(),
            description: entry.description.clone(),
            check,
        });
    }

    let dreaming = DreamingSpec {
        model: model_exists(&file.dreaming.model, "`dreaming.model`")?,
        every_sessions: file.dreaming.every_sessions,
        history: match &file.dreaming.history {
            None => HistoryWindow::All,
            Some(value) => history_window(value.get_ref())
                .map_err(|err| report.at_span(value, format!("`dreaming.history`: {err}")))?,
        },
        explore: match &file.dreaming.explore {
            None => 0.0,
            Some(share) => {
                let value = *share.get_ref();
                if !(0.0..=crate::run::MAX_EXPLORE).contains(&value) {
                    return Err(report.at_span(
                        share,
                        format!(
                            "`dreaming.explore` is {value}; it is the share of sessions that test an avoided choice, from 0 (never) to {}",
                            crate::run::MAX_EXPLORE
                        ),
                    ));
                }
                value
            }
        },
        choices: super::choices::declared_choices(
            &report,
            &file.dreaming.choices,
            &super::choices::OfferedTools {
                capabilities,
                command_tools: &command_tools,
                servers: &declared_servers,
                agents: &agents,
            },
        )?,
    };
    if file.limits.max_parallel == 0 || file.limits.max_parallel > MAX_PARALLEL {
        return Err(report.nowhere(format!(
            "`limits.max_parallel` must be from 1 to {MAX_PARALLEL}"
        )));
    }
    if file.limits.max_total_turns == 0 {
        return Err(report.nowhere("`limits.max_total_turns` must be at least 1"));
    }
    if file.limits.max_agents == 0 {
        return Err(report.nowhere(
            "`limits.max_agents` must be at least 1 (the lead's delegations count against it)",
        ));
    }
    if file.name.trim().is_empty() {
        return Err(report.nowhere("`name` (the team) must not be empty"));
    }

    let mut environment = file.environment;
    environment.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    environment.secret_env = secret_variables(&models);
    environment.runs_commands = !fact_commands.is_empty() || !command_tools.is_empty();
    Ok(SessionSpec {
        path: path.to_path_buf(),
        team: file.name,
        task: file.task,
        environment,
        models,
        agents,
        lead,
        rubric: Rubric {
            max_iterations: outcome.max_iterations,
            grader,
            criteria,
        },
        dreaming,
        limits: file.limits,
        fact_commands,
        command_tools,
        mcp_servers: declared_servers,
        recorded: BTreeMap::new(),
    })
}

/// Every variable a profile reads a key from, and the providers' default ones.
/// `history = "all" | N | "DURATION"`.
fn history_window(value: &toml::Value) -> Result<HistoryWindow, HistoryError> {
    match value {
        toml::Value::Integer(n) => HistoryWindow::sessions(*n),
        toml::Value::String(text) => text.parse(),
        other => Err(HistoryError::Invalid(other.to_string())),
    }
}

fn secret_variables(models: &BTreeMap<String, ModelProfile>) -> Vec<String> {
    let mut names: BTreeSet<String> = [
        crate::model::anthropic::DEFAULT_KEY_ENV,
        crate::model::openai::DEFAULT_KEY_ENV,
    ]
    .into_iter()
    .map(str::to_string)
    .collect();
    names.extend(models.values().filter_map(|p| p.api_key_env.clone()));
    names.into_iter().collect()
}

/// The number of bytes of opening quote before a TOML string value's content.
fn quote_len(source: &str, start: usize) -> usize {
    let rest = source.get(start..).unwrap_or("");
    if rest.starts_with("\"\"\"") || rest.starts_with("'''") {
        // A newline right after the opening quotes is not part of the string.
        let after = rest.get(3..).unwrap_or("");
        3 + if after.starts_with("\r\n") {
            2
        } else if after.starts_with('\n') {
            1
        } else {
            0
        }
    } else if rest.starts_with('"') || rest.starts_with('\'') {
        1
    } else {
        0
    }
}

/// A delegation cycle, as the list of agents around it (first repeated at the end).
fn find_cycle(agents: &BTreeMap<String, AgentSpec>) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        OnPath,
        Done,
    }
    fn visit(
        name: &str,
        agents: &BTreeMap<String, AgentSpec>,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match marks.get(name).copied().unwrap_or(Mark::New) {
            Mark::Done => return None,
            Mark::OnPath => {
                let start = path.iter().position(|n| n == name).unwrap_or(0);
                let mut cycle = path[start..].to_vec();
                cycle.push(name.to_string());
                return Some(cycle);
            }
            Mark::New => {}
        }
        marks.insert(name.to_string(), Mark::OnPath);
        path.push(name.to_string());
        for child in agents
            .get(name)
            .map(|a| a.delegates.as_slice())
            .unwrap_or(&[])
        {
            if let Some(cycle) = visit(child, agents, marks, path) {
                return Some(cycle);
            }
        }
        path.pop();
        marks.insert(name.to_string(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for name in agents.keys() {
        let mut path = Vec::new();
        if let Some(cycle) = visit(name, agents, &mut marks, &mut path) {
            return Some(cycle);
        }
    }
    None
}
