//! The `tollgate` command line. No logic lives here: each command calls into the library.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use tollgate::config::MockConfig;

// Measured on the load test: fewer cycles in allocation-heavy request handling than glibc's
// malloc, with flatter tail latency under many threads.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "tollgate",
    version,
    about = "An AI gateway on Pingora",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand)]
enum Command {
    /// Start the gateway (the default command).
    Run(RunArgs),
    /// Validate a configuration file; print every problem as `path.to.field: message`.
    Check {
        #[arg(short, long)]
        config: PathBuf,
    },
    /// Print the hex SHA-256 of a virtual key, to store as keys[].key_sha256.
    HashKey { key: String },
    /// Serve the mock provider alone (for load tests and application test suites).
    Mock(MockArgs),
}

#[derive(Args)]
struct RunArgs {
    /// Configuration file (default: $TOLLGATE_CONFIG, else conf/tollgate.yaml).
    #[arg(short, long)]
    config: Option<PathBuf>,
    /// Take the listening sockets over from a running instance (graceful upgrade).
    #[arg(long)]
    upgrade: bool,
    /// Run in the background.
    #[arg(long)]
    daemon: bool,
}

#[derive(Args)]
struct MockArgs {
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: String,
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    #[arg(long, default_value_t = 20)]
    chunks: usize,
    #[arg(long, default_value_t = 0)]
    chunk_delay_ms: u64,
    #[arg(long, default_value_t = 0.0)]
    failure_rate: f64,
    #[arg(long, default_value_t = 2)]
    threads: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Run(cli.run)) {
        Command::Run(args) => {
            let config_path = args
                .config
                .or_else(|| std::env::var_os("TOLLGATE_CONFIG").map(PathBuf::from))
                .unwrap_or_else(|| PathBuf::from("conf/tollgate.yaml"));
            let opts = tollgate::server::RunOptions {
                config_path,
                upgrade: args.upgrade,
                daemon: args.daemon,
            };
            let result = tollgate::server::run(opts);
            tollgate::lifecycle::release_pid_file();
            match result {
                Ok(()) => ExitCode::SUCCESS,
                Err(message) => {
                    eprintln!("{message}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Check { config } => match tollgate::config::load_file(&config) {
            Ok(loaded) => {
                for w in &loaded.warnings {
                    eprintln!("warning: {w}");
                }
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(problems) => {
                for p in &problems {
                    println!("{p}");
                }
                ExitCode::FAILURE
            }
        },
        Command::HashKey { key } => {
            println!("{}", tollgate::auth::to_hex(&tollgate::auth::digest(&key)));
            ExitCode::SUCCESS
        }
        Command::Mock(args) => {
            let config = MockConfig {
                latency_ms: args.latency_ms,
                chunks: args.chunks,
                chunk_delay_ms: args.chunk_delay_ms,
                failure_rate: args.failure_rate,
            };
            match tollgate::mock_provider::run_standalone(&args.listen, config, args.threads) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("mock provider: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
