//! `snap`: the command-line node. See `snap --help` and the README.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
