//! `lucid dream`: review a team's history and propose memories, once or on a schedule
//! (where the dream runs, in the store or through its owner, is [`super::dream_schedule`]'s).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::dream_schedule::{self, Dreaming};
use super::exit;
use lucid_core::dream::{dream, dreamer_for, teams_to_dream, DreamReport, Dreamer};
use lucid_core::event::one_line;
use lucid_core::store::Store;

#[derive(Debug, Args)]
pub struct DreamArgs {
    /// The team to dream for (default: every team with sessions no dream has read).
    #[arg(long)]
    pub team: Option<String>,
    /// A session file: its team, and its `[dreaming] model` as the dreamer.
    #[arg(long, value_name = "FILE")]
    pub spec: Option<PathBuf>,
    /// Print one JSON document describing the dream(s) on stdout.
    #[arg(long)]
    pub json: bool,
    /// Keep dreaming every DURATION (e.g. 30s, 10m, 2h) until stopped with Ctrl-C; the
    /// store is held only while a dream runs, so other commands go on between ticks.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, conflicts_with = "json")]
    pub every: Option<Duration>,
}

const NOTHING_TO_DREAM: &str =
    "No team has sessions that no dream has read; nothing to dream about.";

/// `90s`, `10m`, `2h`, `1d`, or plain seconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 30s, 10m or 2h"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("`{text}`: use s, m, h or d")),
    };
    if seconds == 0 {
        return Err("the duration must be more than zero".into());
    }
    Ok(Duration::from_secs(seconds))
}

pub async fn run(db: Option<PathBuf>, args: DreamArgs) -> u8 {
    let (team_from_spec, dreamer) = match &args.spec {
        Some(path) => {
            match lucid_core::session::load(lucid_envs::worlds().as_ref(), path, None, None, None)
                .map_err(|e| e.to_string())
            {
                Ok(spec) => match dreamer_for(&spec) {
                    Ok(dreamer) => (Some(spec.team.clone()), dreamer),
                    Err(message) => {
                        eprintln!("lucid: {message}");
                        return exit::USAGE;
                    }
                },
                Err(message) => {
                    eprintln!("lucid: {message}");
                    return exit::USAGE;
                }
            }
        }
        None => (None, Dreamer::Offline),
    };
    let dreaming = Dreaming {
        team: args.team.clone().or(team_from_spec),
        spec: args
            .spec
            .as_ref()
            .map(|spec| std::path::absolute(spec).unwrap_or_else(|_| spec.clone())),
        dreamer,
        json: args.json,
    };
    let path = db.unwrap_or_else(|| lucid_core::config::Paths::from_env().default_store);
    match args.every {
        None => dream_schedule::once(&path, &dreaming).await,
        Some(every) => dream_schedule::every(&path, &dreaming, every).await,
    }
}

/// Dreams in the open `store` for `team` (or every team with sessions no dream has
/// read), printing each report as it comes.
pub(super) async fn dream_once(
    store: &Store,
    team: Option<&str>,
    dreamer: &Dreamer,
    json: bool,
) -> u8 {
    let teams = match team {
        Some(team) => vec![team.to_string()],
        None => match teams_to_dream(store) {
            Ok(teams) => teams,
            Err(err) => {
                eprintln!("lucid: {err}");
                return exit::RUNTIME;
            }
        },
    };
    if teams.is_empty() && !json {
        println!("{NOTHING_TO_DREAM}");
        return exit::OK;
    }
    let mut reports = Vec::new();
    for team in &teams {
        match dream(store, team, dreamer, &lucid_envs::catalog()).await {
            Ok(report) => {
                if !json {
                    print_report(&report);
                }
                reports.push(report);
            }
            Err(err) => {
                eprintln!("lucid: dreaming for team {team} failed: {err}");
                return exit::RUNTIME;
            }
        }
    }
    if json {
        match serde_json::to_string_pretty(&reports) {
            Ok(text) => println!("{text}"),
            Err(err) => {
                eprintln!("lucid: cannot encode the report: {err}");
                return exit::RUNTIME;
            }
        }
    }
    exit::OK
}

/// Prints the reports of a dream made elsewhere (by the store's owner) as
/// [`dream_once`] prints its own.
pub(super) fn print_reports(reports: &[DreamReport], json: bool) -> u8 {
    if json {
        return match serde_json::to_string_pretty(reports) {
            Ok(text) => {
                println!("{text}");
                exit::OK
            }
            Err(err) => {
                eprintln!("lucid: cannot encode the report: {err}");
                exit::RUNTIME
            }
        };
    }
    if reports.is_empty() {
        println!("{NOTHING_TO_DREAM}");
    }
    reports.iter().for_each(print_report);
    exit::OK
}

fn print_report(report: &DreamReport) {
    let run = &report.run;
    println!(
        "dream {} · team {} · {} session(s) read · {} pattern(s) · recorded as session {}",
        run.id,
        lucid_core::event::sanitize(&run.team),
        run.sessions.len(),
        run.patterns,
        run.session
    );
    if report.patterns.tests > 0 {
        println!(
            "  {} failure condition(s) tested; those kept hold at a false-discovery rate of {}%",
            report.patterns.tests,
            report.patterns.fdr * 100.0
        );
    }
    if report.proposals.is_empty() {
        println!("  nothing new to propose");
        return;
    }
    for memory in &report.proposals {
        println!(
            "  proposed {} {} v{} [{}] {}",
            memory.kind.as_str(),
            memory.id,
            memory.version,
            one_line(&memory.scope(), 40),
            one_line(&memory.title, 90)
        );
    }
    println!("Review with `lucid memory list --status proposed`, then `lucid memory approve ID…`.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5y").is_err());
    }
}
