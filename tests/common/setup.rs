//! A bench with a lab ready to run ([`LabSetup`]), as the fault tests
//! (faults.rs, holds.rs, evidence.rs) set it up: the programs installed, a
//! scratch directory with an empty HOME and the lab file, and `labctl`
//! runs of that lab in the foreground or the background. One place, so the
//! tests differ only in their labs and what they do to the bench.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use super::{install_programs, labctl, run_dir, Background, RunOutput, Scratch, TestBench};

/// A bench with the programs in place, a scratch directory (`s`), an empty
/// HOME in it (`home`) and the lab file (`lab`).
pub struct LabSetup {
    pub bench: TestBench,
    pub s: Scratch,
    pub home: PathBuf,
    pub lab: PathBuf,
}

impl LabSetup {
    /// A new bench ([`TestBench::up`]) with the programs installed, the
    /// scratch directory `tag`, and `lab` (lab-file text) as its `lab.toml`.
    pub fn new(tag: &str, lab: &str) -> LabSetup {
        let bench = TestBench::up();
        install_programs(&bench);
        let s = Scratch::new(tag);
        let home = s.path("home");
        std::fs::create_dir_all(&home).unwrap();
        let lab = s.write("lab.toml", lab);
        LabSetup {
            bench,
            s,
            home,
            lab,
        }
    }

    /// Where a run is told to put its run directory: a name is taken in the
    /// scratch directory, an absolute path as it is.
    pub fn out(&self, out: impl AsRef<Path>) -> PathBuf {
        self.s.0.join(out)
    }

    /// The one run directory under [`LabSetup::out`].
    #[track_caller]
    pub fn run_dir(&self, out: impl AsRef<Path>) -> PathBuf {
        run_dir(&self.out(out))
    }

    /// The run id of the one run under [`LabSetup::out`].
    #[track_caller]
    pub fn run_id(&self, out: impl AsRef<Path>) -> String {
        self.run_dir(out)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned()
    }

    /// `labctl ARGS` with the bench's hosts file and the lab, in the foreground.
    pub fn labctl<S: AsRef<OsStr>>(&self, args: &[S]) -> RunOutput {
        labctl(self.bench.hosts_file(), &self.lab, &self.home, args)
    }

    /// `run ARGS --out OUT` (see [`LabSetup::out`]).
    pub fn run_args(&self, out: impl AsRef<Path>, args: &[&str]) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec!["run".into()];
        v.extend(args.iter().map(OsString::from));
        v.extend(["--out".into(), self.out(out).into()]);
        v
    }

    /// `labctl run ARGS --out OUT` in the foreground.
    pub fn run(&self, out: impl AsRef<Path>, args: &[&str]) -> RunOutput {
        self.labctl(&self.run_args(out, args))
    }

    /// `labctl run ARGS --out OUT` in the background.
    pub fn start(&self, out: impl AsRef<Path>, args: &[&str]) -> Background {
        let mut v: Vec<OsString> = vec![
            "--hosts".into(),
            self.bench.hosts_file().into(),
            "--lab".into(),
            self.lab.clone().into(),
        ];
        v.extend(self.run_args(out, args));
        Background::start(&v, &self.home, &[])
    }
}
