//! The `vigil` binary: command-line parsing, then `vigil-server` does the rest.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use vigil_server::Config;

const DEFAULT_CONFIG: &str = "config/vigil.yaml";

/// Vigil: a single-binary observability backend (Prometheus remote_write target and
/// Prometheus-compatible query API over a WAL-backed TSDB).
#[derive(Parser, Debug)]
#[command(name = "vigil", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Options of `serve`, the default command.
    #[command(flatten)]
    serve: ServeArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server (the default when no command is given).
    Serve(ServeArgs),
    /// Check a configuration file and exit (0 if valid, 2 if not).
    CheckConfig {
        /// The configuration file.
        #[arg(long, default_value = DEFAULT_CONFIG)]
        config: PathBuf,
    },
    /// Rule files: check them, or run promtool-style unit tests.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Send the reference SRE platform's traffic (order, payment and user services: metrics
    /// by remote write, JSON logs by Loki push) to a running Vigil, with optional backfilled
    /// history and injected incidents.
    Demo(vigil_demo::DemoArgs),
    /// SLO specs (native vigil/v1, Sloth prometheus/v1, OpenSLO v1): check them, or print
    /// the Prometheus rules they generate.
    #[command(subcommand)]
    Slo(SloCommand),
}

#[derive(Subcommand, Debug)]
enum SloCommand {
    /// Check SLO spec files (exit 0 if all are valid, 2 with messages naming the file, SLO
    /// and field if not).
    Check {
        /// The spec files.
        #[arg(required = true, value_name = "SPEC")]
        files: Vec<PathBuf>,
    },
    /// Print the rule file generated from each spec file (plain Prometheus rule YAML; files
    /// are separated by `---`), or write `<spec stem>-rules.yml` files into a directory.
    Generate {
        /// Write one `<spec stem>-rules.yml` per spec file into this directory instead of
        /// printing.
        #[arg(long, value_name = "DIR")]
        output_dir: Option<PathBuf>,
        /// The spec files.
        #[arg(required = true, value_name = "SPEC")]
        files: Vec<PathBuf>,
    },
}

fn load_slos(files: &[PathBuf]) -> Result<vigil_slo::LoadedSpecs, ExitCode> {
    match vigil_slo::load_files(files) {
        Ok(loaded) => {
            for warning in &loaded.warnings {
                eprintln!("warning: {warning}");
            }
            Ok(loaded)
        }
        Err(errors) => {
            for err in errors {
                eprintln!("{err}");
            }
            Err(ExitCode::from(EXIT_USAGE))
        }
    }
}

fn slo_command(command: SloCommand) -> ExitCode {
    match command {
        SloCommand::Check { files } => match load_slos(&files) {
            Ok(loaded) => {
                for file in &files {
                    let name = file.display().to_string();
                    let n = loaded.slos.iter().filter(|s| s.file == name).count();
                    println!("{name}: {n} SLOs valid");
                }
                ExitCode::SUCCESS
            }
            Err(code) => code,
        },
        SloCommand::Generate { output_dir, files } => {
            let loaded = match load_slos(&files) {
                Ok(l) => l,
                Err(code) => return code,
            };
            let generated = vigil_slo::generate_files(&loaded.slos);
            match output_dir {
                None => {
                    let texts: Vec<String> = generated.iter().map(|f| f.to_yaml()).collect();
                    print!("{}", texts.join("---\n"));
                    ExitCode::SUCCESS
                }
                Some(dir) => {
                    for file in &generated {
                        let stem = std::path::Path::new(&file.file)
                            .file_stem()
                            .map(|s| s.to_string_lossy().to_string())
                            .unwrap_or_else(|| "slos".into());
                        let path = dir.join(format!("{stem}-rules.yml"));
                        if let Err(err) = std::fs::write(&path, file.to_yaml()) {
                            eprintln!("vigil: cannot write {}: {err}", path.display());
                            return ExitCode::FAILURE;
                        }
                        println!("{}", path.display());
                    }
                    ExitCode::SUCCESS
                }
            }
        }
    }
}

#[derive(Subcommand, Debug)]
enum RulesCommand {
    /// Check rule files (exit 0 if all are valid, 1 with located messages if not).
    Check {
        /// Accept unknown keys, as promtool's `--ignore-unknown-fields`.
        #[arg(long)]
        ignore_unknown_fields: bool,
        /// The rule files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
    /// Run `promtool test rules` unit-test files (exit 0 if all pass, 1 if any fails).
    Test {
        /// The unit-test files.
        #[arg(required = true, value_name = "FILE")]
        files: Vec<PathBuf>,
    },
}

fn check_rules(files: &[PathBuf], ignore_unknown_fields: bool) -> ExitCode {
    let options = vigil_rules::ParseOptions {
        logql: Some(vigil_rules::logql_validator()),
        ignore_unknown_fields,
        ..vigil_rules::ParseOptions::default()
    };
    let mut failed = false;
    for file in files {
        println!("Checking {}", file.display());
        let result = std::fs::read_to_string(file)
            .map_err(|err| vec![err.to_string()])
            .and_then(|text| {
                vigil_rules::parse_rule_file(&text, &options)
                    .map_err(|errs| errs.iter().map(ToString::to_string).collect())
            });
        match result {
            Ok(rules) => println!("  SUCCESS: {} rules found", rules.rule_count()),
            Err(errors) => {
                failed = true;
                eprintln!("  FAILED:");
                for err in errors {
                    eprintln!("{}: {err}", file.display());
                }
            }
        }
        println!();
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[derive(Args, Debug, Clone, Default)]
struct ServeArgs {
    /// Configuration file (YAML); a missing file at the default path means all defaults.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on, overriding `server.listen` (default 127.0.0.1:9009; port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<String>,
    /// Data directory, overriding `storage.data_dir` (default ./data).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
}

/// Exit code for configuration and usage errors, as clap uses for usage errors.
const EXIT_USAGE: u8 = 2;

fn load_config(args: &ServeArgs) -> Result<Config, String> {
    let (path, must_exist) = match &args.config {
        Some(path) => (path.clone(), true),
        None => (PathBuf::from(DEFAULT_CONFIG), false),
    };
    let mut config = Config::load(&path, must_exist).map_err(|err| err.to_string())?;
    if let Some(listen) = &args.listen {
        config.server.listen = listen.clone();
    }
    if let Some(dir) = &args.data_dir {
        config.storage.data_dir = dir.clone();
    }
    config.validate().map_err(|err| err.to_string())?;
    Ok(config)
}

fn serve(args: &ServeArgs) -> ExitCode {
    let config = match load_config(args) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("vigil: {message}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    vigil_server::init_logging(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("vigil: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(vigil_server::run(config, vigil_server::shutdown_signal())) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "vigil stopped with an error");
            eprintln!("vigil: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Serve(args)) => serve(&args),
        Some(Command::Demo(args)) => vigil_demo::main(&args),
        None => serve(&cli.serve),
        Some(Command::Rules(RulesCommand::Check {
            ignore_unknown_fields,
            files,
        })) => check_rules(&files, ignore_unknown_fields),
        Some(Command::Rules(RulesCommand::Test { files })) => {
            if vigil_rules::unittest::run_test_files(&files) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Some(Command::Slo(command)) => slo_command(command),
        Some(Command::CheckConfig { config }) => {
            match load_config(&ServeArgs {
                config: Some(config.clone()),
                ..ServeArgs::default()
            }) {
                Ok(_) => {
                    println!("{}: valid", config.display());
                    ExitCode::SUCCESS
                }
                Err(message) => {
                    eprintln!("vigil: {message}");
                    ExitCode::from(EXIT_USAGE)
                }
            }
        }
    }
}
