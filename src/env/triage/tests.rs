//! Build triage: fleets, tools, policies, and learning from dreams.
