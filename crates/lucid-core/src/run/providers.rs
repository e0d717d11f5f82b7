//! Which model answers for each agent, the advisor and the grader: a scripted policy
//! offline, a recorded session replayed, or an Anthropic / OpenAI-compatible client built
//! from the model profile.

use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use super::RunError;
use crate::model::anthropic::{self, AnthropicConfig, AnthropicProvider};
use crate::model::openai::{self, OpenAiConfig, OpenAiProvider};
use crate::model::replay::{Recording, ReplayProvider, Seat};
use crate::model::{Provider, ScriptedProvider};
use crate::spec::{ModelProfile, ProviderKind, SessionSpec};
use crate::world::Environment;

/// The role the offline grader policy plays.
pub const GRADER_ROLE: &str = "grader";
/// The role the offline advisor policy plays.
pub const ADVISOR_ROLE: &str = "advisor";

/// Every provider a session needs, built before the run starts.
pub struct ProviderSet {
    profiles: BTreeMap<String, ModelProfile>,
    agents: BTreeMap<String, Arc<dyn Provider>>,
    advisors: BTreeMap<String, Arc<dyn Provider>>,
    grader: Option<Arc<dyn Provider>>,
}

/// The `ModelUsage` event of one call a `role` made on profile `profile_name`, priced
/// by the profile when it has prices.
pub fn usage_event(
    role: &str,
    profile_name: &str,
    profile: Option<&ModelProfile>,
    usage: &crate::model::Usage,
) -> crate::event::EventKind {
    crate::event::EventKind::ModelUsage {
        role: role.to_string(),
        profile: profile_name.to_string(),
        tokens_in: usage.input_tokens,
        tokens_out: usage.output_tokens,
        cost_usd: profile.and_then(|p| p.cost_usd(usage.input_tokens, usage.output_tokens)),
    }
}

impl ProviderSet {
    /// Builds a provider for every agent, every advisor and (if a criterion needs one)
    /// the grader.
    ///
    /// Every seat on one network profile shares one client, so what it learns about its
    /// server (that it cannot stream) holds for the whole session.
    pub fn for_session(spec: &SessionSpec, env: &dyn Environment) -> Result<Self, RunError> {
        let networked: std::cell::RefCell<BTreeMap<String, Arc<dyn Provider>>> = Default::default();
        let build =
            |profile_name: &str, role: &str, seat: Seat| -> Result<Arc<dyn Provider>, RunError> {
                let profile = spec.models.get(profile_name).ok_or_else(|| {
                    RunError::Provider(format!("no model profile `{profile_name}`"))
                })?;
                match profile.provider {
                    ProviderKind::Replay => replay_for(spec, profile_name, profile, seat),
                    ProviderKind::Anthropic | ProviderKind::Openai => {
                        if let Some(shared) = networked.borrow().get(profile_name) {
                            return Ok(Arc::clone(shared));
                        }
                        let provider = provider_for(profile_name, profile, role, Some(env))?;
                        networked
                            .borrow_mut()
                            .insert(profile_name.to_string(), Arc::clone(&provider));
                        Ok(provider)
                    }
                    ProviderKind::Scripted | ProviderKind::Test => {
                        provider_for(profile_name, profile, role, Some(env))
                    }
                }
            };
        let mut agents = BTreeMap::new();
        let mut advisors = BTreeMap::new();
        for agent in spec.agents.values() {
            let seat = Seat::Agent(agent.name.clone());
            agents.insert(agent.name.clone(), build(&agent.model, &agent.role, seat)?);
            if let Some(advisor) = &agent.advisor {
                advisors.insert(
                    agent.name.clone(),
                    build(advisor, ADVISOR_ROLE, Seat::Advisor)?,
                );
            }
        }
        let needs_grader = spec.rubric.criteria.iter().any(|c| c.check.is_none());
        let grader = if needs_grader {
            Some(build(&spec.rubric.grader, GRADER_ROLE, Seat::Grader)?)
        } else {
            None
        };
        Ok(ProviderSet {
            profiles: spec.models.clone(),
            agents,
            advisors,
            grader,
        })
    }

    pub fn agent(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.agents.get(name).cloned()
    }

    pub fn advisor(&self, agent: &str) -> Option<Arc<dyn Provider>> {
        self.advisors.get(agent).cloned()
    }

    pub fn grader(&self) -> Option<Arc<dyn Provider>> {
        self.grader.clone()
    }

    pub fn profile(&self, name: &str) -> Option<&ModelProfile> {
        self.profiles.get(name)
    }
}

/// A `replay` profile's provider for one seat, answering from the recorded events the
/// session was started with ([`SessionSpec::recorded`]).
fn replay_for(
    spec: &SessionSpec,
    profile_name: &str,
    profile: &ModelProfile,
    seat: Seat,
) -> Result<Arc<dyn Provider>, RunError> {
    let events = spec.recorded.get(profile_name).ok_or_else(|| {
        RunError::Config(format!(
            "model profile `{profile_name}` replays session `{}`, whose events were not loaded",
            profile.session.as_deref().unwrap_or("")
        ))
    })?;
    let recording = Arc::new(Recording::from_events(events));
    Ok(Arc::new(ReplayProvider::new(recording, seat)))
}

/// A provider for one profile playing one role. Network profiles read their API key
/// from the environment here, so a missing key stops the run before it starts. A
/// `replay` profile needs the session's recorded events: [`ProviderSet::for_session`]
/// builds it.
pub fn provider_for(
    profile_name: &str,
    profile: &ModelProfile,
    role: &str,
    env: Option<&dyn Environment>,
) -> Result<Arc<dyn Provider>, RunError> {
    match profile.provider {
        ProviderKind::Scripted => {
            let Some(env) = env else {
                return Err(RunError::Config(format!(
                    "profile `{profile_name}` is scripted, and role `{role}` has no scripted policy outside an environment"
                )));
            };
            let policy = env.policy(role).ok_or_else(|| {
                RunError::Provider(format!(
                    "environment `{}` has no scripted policy for role `{role}` (profile `{profile_name}`)",
                    env.kind()
                ))
            })?;
            Ok(Arc::new(
                ScriptedProvider::new(role, policy)
                    .with_latency(Duration::from_millis(profile.latency_ms)),
            ))
        }
        ProviderKind::Test => Ok(Arc::new(
            ScriptedProvider::new(role, Arc::new(crate::model::dry_run::DryRun))
                .with_latency(Duration::from_millis(profile.latency_ms)),
        )),
        ProviderKind::Replay => Err(RunError::Config(format!(
            "model profile `{profile_name}` replays a recorded session, which only agents, advisors and the grader of a session can do (not the `{role}`)"
        ))),
        ProviderKind::Anthropic => {
            let model = model_name(profile_name, profile)?;
            let key_env = profile
                .api_key_env
                .as_deref()
                .unwrap_or(anthropic::DEFAULT_KEY_ENV);
            let api_key = read_key(key_env).ok_or_else(|| missing_key(profile_name, key_env))?;
            let config = AnthropicConfig {
                base_url: profile
                    .base_url
                    .clone()
                    .unwrap_or_else(|| anthropic::DEFAULT_BASE_URL.into()),
                model,
                api_key,
                version: profile
                    .api_version
                    .clone()
                    .unwrap_or_else(|| anthropic::DEFAULT_VERSION.into()),
                timeout: Duration::from_secs(profile.timeout_s.max(1)),
                bounds: profile.turn_bounds(),
                max_retries: profile.max_retries,
                streaming: profile.stream,
            };
            Ok(Arc::new(AnthropicProvider::new(
                config,
                http_client(profile_name)?,
            )))
        }
        ProviderKind::Openai => {
            let model = model_name(profile_name, profile)?;
            // A named variable must be set; the default one only for OpenAI's own
            // service. A server of the user's own (Ollama, llama.cpp, vLLM) gets no key
            // unless the profile names one, so an OpenAI key never leaks to it.
            let api_key = match (&profile.api_key_env, &profile.base_url) {
                (Some(key_env), _) => {
                    Some(read_key(key_env).ok_or_else(|| missing_key(profile_name, key_env))?)
                }
                (None, None) => Some(
                    read_key(openai::DEFAULT_KEY_ENV)
                        .ok_or_else(|| missing_key(profile_name, openai::DEFAULT_KEY_ENV))?,
                ),
                (None, Some(_)) => None,
            };
            let config = OpenAiConfig {
                base_url: profile
                    .base_url
                    .clone()
                    .unwrap_or_else(|| openai::DEFAULT_BASE_URL.into()),
                model,
                api_key,
                timeout: Duration::from_secs(profile.timeout_s.max(1)),
                bounds: profile.turn_bounds(),
                max_retries: profile.max_retries,
                streaming: profile.stream,
            };
            Ok(Arc::new(OpenAiProvider::new(
                config,
                http_client(profile_name)?,
            )))
        }
    }
}

fn model_name(profile_name: &str, profile: &ModelProfile) -> Result<String, RunError> {
    profile.model.clone().ok_or_else(|| {
        RunError::Config(format!(
            "model profile `{profile_name}` (provider `{}`) needs `model`, the model's name on the server",
            profile.provider.as_str()
        ))
    })
}

/// The key in `var`, registered as a secret so nothing records or shows it.
fn read_key(var: &str) -> Option<String> {
    let key = std::env::var(var)
        .ok()
        .filter(|key| !key.trim().is_empty())?;
    crate::event::register_secret(&key);
    Some(key)
}

fn missing_key(profile_name: &str, var: &str) -> RunError {
    RunError::Config(format!(
        "model profile `{profile_name}` needs an API key in the environment variable {var}, which is not set"
    ))
}

/// One HTTP client for every network provider of the process, so agents share
/// connection pools instead of each opening its own.
fn http_client(profile_name: &str) -> Result<reqwest::Client, RunError> {
    static SHARED: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = SHARED.get() {
        return Ok(client.clone());
    }
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .user_agent(concat!("lucid/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| {
            RunError::Config(format!(
                "cannot set up the HTTP client for model profile `{profile_name}`: {err}"
            ))
        })?;
    Ok(SHARED.get_or_init(|| client).clone())
}
