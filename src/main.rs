//! The `bulwark` command line: argument parsing and dispatch only.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

mod cli;

// /mutate builds a JSON tree of a few thousand small allocations per review and frees it at
// once, which mimalloc's per-thread free lists serve faster than glibc malloc. Built
// `no_thp`: mimalloc otherwise asks for transparent huge pages, which grow the server's RSS
// for no speed (docs/benchmarks.md, "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use bulwark::config::Policy;
use bulwark::engine::PssLevel;
use bulwark::offline;
use bulwark::policy_source::{Overrides, PolicySource};
use bulwark::rules::listing;

/// Kubernetes admission webhook enforcing a production baseline.
#[derive(Parser)]
#[command(name = "bulwark", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Policy selection shared by every subcommand.
#[derive(clap::Args, Clone)]
struct PolicyArgs {
    /// Policy file (YAML). Without it the embedded default policy is used.
    #[arg(long, env = "BULWARK_CONFIG")]
    config: Option<PathBuf>,
    /// Override the policy's Pod Security Standards level.
    #[arg(long, value_enum)]
    pod_security: Option<Level>,
}

#[derive(Clone, Copy, ValueEnum)]
enum Level {
    Baseline,
    Restricted,
}

#[derive(Clone, Copy, ValueEnum, PartialEq, Eq)]
enum Output {
    Text,
    Json,
    Sarif,
}

/// Formats of `bulwark rules`; `markdown` is the README's rule table.
#[derive(Clone, Copy, ValueEnum)]
enum RulesOutput {
    Text,
    Json,
    Markdown,
}

#[derive(Subcommand)]
enum Command {
    /// Check manifest files offline (files, directories, `-` for stdin).
    Check {
        /// Files or directories (`*.yaml`, `*.yml`, `*.json`); `-` reads stdin.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
        /// Output format.
        #[arg(long, short, value_enum, default_value = "text")]
        output: Output,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Serve the admission webhook over HTTPS (the main job).
    Serve {
        #[command(flatten)]
        args: cli::ServeArgs,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// Certificates for clusters without cert-manager.
    Certs {
        #[command(subcommand)]
        command: CertsCommand,
    },
    /// Print manifests with bulwark's defaults filled in (files, directories, `-` or nothing
    /// for stdin); exit 2 when a document cannot be read.
    Mutate {
        /// Files or directories (`*.yaml`, `*.yml`, `*.json`); `-` or nothing reads stdin.
        paths: Vec<PathBuf>,
        /// Print one RFC 6902 JSON patch (a JSON array) per document instead.
        #[arg(long)]
        patch: bool,
        #[command(flatten)]
        policy: PolicyArgs,
    },
    /// List the rule catalogue with each rule's settings and parameters under the policy.
    Rules {
        /// Output format (`markdown` is the README's rule table).
        #[arg(long, short, value_enum, default_value = "text")]
        output: RulesOutput,
        #[command(flatten)]
        policy: PolicyArgs,
    },
}

#[derive(Subcommand)]
enum CertsCommand {
    /// Write a CA, a serving certificate for NAME.NS.svc and a caBundle.
    Generate(cli::GenerateArgs),
}

/// The policy file and the overrides the flags ask for; `serve` loads it again on every
/// change of the file, so the overrides live here and not in a one-off edit of the policy.
fn policy_source(args: &PolicyArgs) -> PolicySource {
    PolicySource {
        path: args.config.clone(),
        overrides: Overrides {
            pod_security: args.pod_security.map(|level| match level {
                Level::Baseline => PssLevel::Baseline,
                Level::Restricted => PssLevel::Restricted,
            }),
            exempt_namespaces: Vec::new(),
        },
    }
}

fn load_policy(args: &PolicyArgs) -> anyhow::Result<Policy> {
    Ok(policy_source(args).load()?.policy)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap: help/version exit 0, usage errors exit 2 as `check` documents.
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    match run(cli) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    match cli.command {
        Command::Check {
            paths,
            output,
            policy,
        } => {
            let policy = load_policy(&policy)?;
            let result = offline::check(offline::load_paths(&paths), &policy);
            let stdout = std::io::stdout();
            let rendered = match output {
                Output::Text => {
                    let color = stdout.is_terminal() && std::env::var_os("NO_COLOR").is_none();
                    offline::render_text(&result, color)
                }
                Output::Json => offline::render_json(&result),
                Output::Sarif => offline::render_sarif(&result),
            };
            if output != Output::Text {
                for e in &result.errors {
                    eprintln!("parse error: {e}");
                }
            }
            stdout.lock().write_all(rendered.as_bytes())?;
            Ok(result.exit_code())
        }
        Command::Serve { args, policy } => cli::serve(args, policy_source(&policy)),
        Command::Certs {
            command: CertsCommand::Generate(args),
        } => cli::generate(args),
        Command::Mutate {
            paths,
            patch,
            policy,
        } => {
            let policy = load_policy(&policy)?;
            let out = offline::mutate::run(&paths, patch, &policy);
            for e in &out.errors {
                eprintln!("error: {e}");
            }
            std::io::stdout().lock().write_all(out.stdout.as_bytes())?;
            Ok(out.exit_code())
        }
        Command::Rules { output, policy } => {
            let policy = load_policy(&policy)?;
            let text = match output {
                RulesOutput::Text => listing::text(&policy),
                RulesOutput::Json => listing::json(&policy),
                RulesOutput::Markdown => listing::markdown(&policy),
            };
            std::io::stdout().lock().write_all(text.as_bytes())?;
            Ok(0)
        }
    }
}
