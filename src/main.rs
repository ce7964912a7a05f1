//! The `backup` command. All work happens in the library; `cli` parses
//! arguments, prints, and maps errors to exit codes (docs/exit-codes.md).

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
