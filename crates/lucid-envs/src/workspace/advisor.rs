//! The advisor's scripted policy: short, generic review advice derived from the question
//! (the `## Question` section of the runner's message; the transcript is ignored). It
//! gives the rules of thumb a senior reviewer would, by what the question is about; it
//! never sees the documents.

use super::text;
use lucid_core::model::{ModelRequest, ModelResponse, Policy};

pub(super) struct Advisor;

/// (words in the question, advice), most specific first.
const ADVICE: [(&[&str], &str); 5] = [
    (
        &["contradict", "consisten", "disagree", "across documents", "cross-document"],
        "Reviewers who each see part of the folder cannot spot contradictions between their parts. \
         Have every reviewer list the values its documents give each named setting or number, with \
         path:line, then compare the lists yourself and report each disagreement with both locations.",
    ),
    (
        &["cite", "citation", "line number", "location"],
        "Cite every finding as path:line from the numbered lines read_file shows, and drop any finding \
         whose location you did not see yourself.",
    ),
    (
        &["link", "missing file", "broken"],
        "Resolve each relative link against the folder of the document that contains it and check the \
         result against list_files; links that climb out of the workspace are broken too.",
    ),
    (
        &["term", "abbreviation", "acronym", "glossary", "defin"],
        "Search the whole workspace for each abbreviation before calling it undefined: a definition may \
         sit in a glossary or be spelled out in another document, e.g. `Key Management Service (KMS)`.",
    ),
    (
        &["split", "divide", "reviewers", "parallel"],
        "Split the documents by size so reviewers finish together, delegate all parts in one turn so \
         they run in parallel, and make sure every document is read in full by someone.",
    ),
];

const GENERAL: &str = "Read every document in full, cite each finding as path:line, say what is \
wrong and what to change, and compare what different documents state about the same thing.";

impl Policy for Advisor {
    fn respond(&self, request: &ModelRequest) -> ModelResponse {
        let message = lucid_core::world::script::request_text(request);
        text::answer(request, advise(question(&message)))
    }
}

/// The `## Question` section of the runner's message, or the whole text.
fn question(message: &str) -> &str {
    lucid_core::world::script::advisor_question(message)
}

fn advise(question: &str) -> String {
    let lower = question.to_ascii_lowercase();
    ADVICE
        .iter()
        .find(|(words, _)| words.iter().any(|w| lower.contains(w)))
        .map_or(GENERAL, |(_, advice)| advice)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advice_follows_the_question_not_the_transcript() {
        let message = "## Question\nHow do I find contradictions between documents?\n\n## Recent work of the agent asking\n- called read_file about a broken link";
        assert!(advise(question(message)).contains("compare the lists"));
        assert!(advise(question("## Question\nIs this acronym defined?")).contains("glossary"));
        assert_eq!(advise(question("## Question\nAnything else?")), GENERAL);
    }
}
