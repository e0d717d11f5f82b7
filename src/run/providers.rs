//! Which model answers for each agent, the advisor and the grader.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use super::RunError;
use crate::env::Environment;
use crate::model::{Provider, ScriptedProvider};
use crate::spec::{ModelProfile, ProviderKind, SessionSpec};

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

impl ProviderSet {
    /// Builds a provider for every agent, every advisor and (if a criterion needs one)
    /// the grader.
    pub fn for_session(spec: &SessionSpec, env: &dyn Environment) -> Result<Self, RunError> {
        let build = |profile_name: &str, role: &str| -> Result<Arc<dyn Provider>, RunError> {
            let profile = spec
                .models
                .get(profile_name)
                .ok_or_else(|| RunError::Provider(format!("no model profile `{profile_name}`")))?;
            provider_for(profile_name, profile, role, env)
        };
        let mut agents = BTreeMap::new();
        let mut advisors = BTreeMap::new();
        for agent in spec.agents.values() {
            agents.insert(agent.name.clone(), build(&agent.model, &agent.role)?);
            if let Some(advisor) = &agent.advisor {
                advisors.insert(agent.name.clone(), build(advisor, ADVISOR_ROLE)?);
            }
        }
        let needs_grader = spec.rubric.criteria.iter().any(|c| c.check.is_none());
        let grader = if needs_grader {
            Some(build(&spec.rubric.grader, GRADER_ROLE)?)
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

/// A provider for one profile playing one role.
pub fn provider_for(
    profile_name: &str,
    profile: &ModelProfile,
    role: &str,
    env: &dyn Environment,
) -> Result<Arc<dyn Provider>, RunError> {
    match profile.provider {
        ProviderKind::Scripted => {
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
        ProviderKind::Anthropic | ProviderKind::Openai => Err(RunError::Provider(format!(
            "model profile `{profile_name}` uses provider `{}`, which this build of lucid cannot call yet; use provider = \"scripted\"",
            profile.provider.as_str()
        ))),
    }
}
