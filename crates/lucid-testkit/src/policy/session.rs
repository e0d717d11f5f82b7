//! The router for a whole session: every agent's prompt and tools, the grader's,
//! the advisor's and the dreamer's fixed prompts, each played by the environment's
//! scripted policy for that role.

use lucid_core::spec::{SessionSpec, ADVISOR_TOOL, DELEGATE_TOOL};
use lucid_core::world::Environment;

use super::PolicyRouter;

/// Routes every request a run of `spec` on `env` can make to the environment's policy
/// for the role behind it. Roles the environment has no policy for are left out (their
/// requests are answered 400, as a misconfigured server would).
pub fn session_router(spec: &SessionSpec, env: &dyn Environment) -> PolicyRouter {
    let mut router = PolicyRouter::new();
    for agent in spec.agents.values() {
        let Some(policy) = env.policy(&agent.role) else {
            continue;
        };
        let mut tools: Vec<String> = agent.tools.clone();
        if !agent.delegates.is_empty() {
            tools.push(DELEGATE_TOOL.into());
        }
        if agent.advisor.is_some() {
            tools.push(ADVISOR_TOOL.into());
        }
        router = router.agent(agent.prompt.clone(), tools, policy);
    }
    let fixed = [
        (
            lucid_core::run::GRADER_ROLE,
            lucid_core::outcome::grader::GRADER_SYSTEM,
        ),
        (
            lucid_core::run::ADVISOR_ROLE,
            lucid_core::run::ADVISOR_SYSTEM,
        ),
        ("dreamer", lucid_core::dream::model::DREAMER_SYSTEM),
    ];
    for (role, system) in fixed {
        if let Some(policy) = env.policy(role) {
            router = router.system(system, policy);
        }
    }
    router
}
