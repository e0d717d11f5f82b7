//! What the spans say about a model profile: the provider it runs on and the provider's
//! model id, read from the session file's profiles (the user's config and the built-ins
//! included). Without them (a session file that is gone), a profile is named by itself.

use std::collections::BTreeMap;

use lucid_core::spec::ModelProfile;

/// What the spans say about a model profile: its provider and model.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Models(BTreeMap<String, ModelNames>);

#[derive(Debug, Clone, PartialEq)]
struct ModelNames {
    provider: String,
    /// The provider's model id; the profile's name when the profile names none.
    model: String,
}

impl Models {
    /// The profiles of a session file (the user's config and the built-ins included).
    pub fn of(profiles: &BTreeMap<String, ModelProfile>) -> Models {
        Models(
            profiles
                .iter()
                .map(|(name, profile)| {
                    let names = ModelNames {
                        provider: profile.provider.as_str().to_string(),
                        model: profile.model.clone().unwrap_or_else(|| name.clone()),
                    };
                    (name.clone(), names)
                })
                .collect(),
        )
    }

    /// The provider and model of the profile `name`; the profile's name alone when the
    /// session file is gone.
    pub(super) fn get(&self, name: &str) -> (Option<String>, String) {
        match self.0.get(name) {
            Some(names) => (Some(names.provider.clone()), names.model.clone()),
            None => (None, name.to_string()),
        }
    }
}
