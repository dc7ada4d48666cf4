"""basewatch as a library: the jobs, their requests and results, the seams they take, and the
errors they raise. This module is the public API; every other module is internal and may change
between releases without notice.

    from pathlib import Path
    from basewatch.api import SbomRequest, Seams, Settings, sbom

    settings = Settings.load(environ={}, cache_dir=Path("/tmp/bw-cache"), read_config=False)
    with Seams.default(settings) as seams:
        inventory = sbom(SbomRequest("oci:/path/to/layout"), seams)
    print(len(inventory.packages), "packages", "(partial)" if inventory.partial else "")

A job takes a typed request and a `Seams` (how images are opened, the vulnerability data, the
inventory builder, a clock and a progress observer); `Seams.default(settings)` makes the real
ones, a caller may substitute its own. The library reads neither the environment nor a config
file: pass `environ=os.environ` and `directory=Path.cwd()` to `Settings.load` to get the CLI's
behaviour.
"""

from basewatch.advice.advise import Advice, Recommendation, RecommendationKind
from basewatch.advice.compare import Candidate, Coverage
from basewatch.clock import SYSTEM_CLOCK, Clock, FixedClock
from basewatch.codec import (
    decode_inventory,
    decode_scan_result,
    encode_inventory,
    encode_scan_result,
)
from basewatch.compat.model import CompatReport
from basewatch.errors import (
    BundledDataError,
    CacheError,
    CodecError,
    ConfigError,
    DatabaseError,
    ElfError,
    Error,
    ImageError,
    ImageNotFound,
    LintError,
    OfflineError,
    OutputError,
    RegistryError,
    Remedy,
    SbomError,
    UsageError,
)
from basewatch.jobs.advise import AdviseOutcome, AdviseRequest, advise_images
from basewatch.jobs.cache import PruneOutcome, prune_cache
from basewatch.jobs.catalog import Recorded, record_images
from basewatch.jobs.compare import CompareOutcome, CompareRequest, compare
from basewatch.jobs.compat import CompatChecker, CompatRequest, compat
from basewatch.jobs.db import (
    StatusOutcome,
    UpdateOutcome,
    UpdatePlan,
    UpdateRequest,
    database_status,
    import_files,
    plan_update,
    update_database,
)
from basewatch.jobs.inventory import Scanner
from basewatch.jobs.sbom import SbomRequest, sbom
from basewatch.jobs.scan import ScanOutcome, ScanRequest, scan
from basewatch.jobs.seams import ImageOpener, RegistryImages, Seams, SqliteVulnData, VulnData
from basewatch.matching.policy import Policy
from basewatch.models import Finding, Inventory, Package, ScanResult, Severity
from basewatch.oci.reference import ImageRef, LocalRef, RegistryRef, parse_image_ref
from basewatch.oci.registry.options import RegistryOptions
from basewatch.progress import NULL_PROGRESS, Progress
from basewatch.settings import Settings
from basewatch.store.inventory import FileInventoryStore, InventoryStore
from basewatch.vulndb.store import VulnStore

__all__ = [
    "NULL_PROGRESS",
    "SYSTEM_CLOCK",
    "Advice",
    "AdviseOutcome",
    "AdviseRequest",
    "BundledDataError",
    "CacheError",
    "Candidate",
    "Clock",
    "CodecError",
    "CompareOutcome",
    "CompareRequest",
    "CompatChecker",
    "CompatReport",
    "CompatRequest",
    "ConfigError",
    "Coverage",
    "DatabaseError",
    "ElfError",
    "Error",
    "FileInventoryStore",
    "Finding",
    "FixedClock",
    "ImageError",
    "ImageNotFound",
    "ImageOpener",
    "ImageRef",
    "Inventory",
    "InventoryStore",
    "LintError",
    "LocalRef",
    "OfflineError",
    "OutputError",
    "Package",
    "Policy",
    "Progress",
    "PruneOutcome",
    "Recommendation",
    "RecommendationKind",
    "Recorded",
    "RegistryError",
    "RegistryImages",
    "RegistryOptions",
    "RegistryRef",
    "Remedy",
    "SbomError",
    "SbomRequest",
    "ScanOutcome",
    "ScanRequest",
    "ScanResult",
    "Scanner",
    "Seams",
    "Settings",
    "Severity",
    "SqliteVulnData",
    "StatusOutcome",
    "UpdateOutcome",
    "UpdatePlan",
    "UpdateRequest",
    "UsageError",
    "VulnData",
    "VulnStore",
    "advise_images",
    "compare",
    "compat",
    "database_status",
    "decode_inventory",
    "decode_scan_result",
    "encode_inventory",
    "encode_scan_result",
    "import_files",
    "parse_image_ref",
    "plan_update",
    "prune_cache",
    "record_images",
    "sbom",
    "scan",
    "update_database",
]
