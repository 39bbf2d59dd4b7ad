"""Specific errors with messages a user can act on (never a bare traceback)."""


class RagError(Exception):
    """Base class: every message says what went wrong and what to do about it."""


class FileProblem(RagError):
    """One file's problem: the message is "<path>: <problem>", both kept for callers that list many files."""

    def __init__(self, path: str, problem: str):
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")


class DocumentError(FileProblem):
    """A knowledge-base file cannot be used; names the file and the problem."""


class NoDocumentsError(RagError):
    """The docs folder has no usable document."""


class ModelError(RagError):
    """The embedding model is missing, altered or cannot be loaded."""


class IndexNotFoundError(RagError):
    """No index exists where one was expected."""


class IndexMismatchError(RagError):
    """The index on disk was built with another model or chunker settings."""


class IndexCorruptError(RagError):
    """An index file is missing, unreadable or disagrees with the others (a damaged disk, a half copy, an edit);
    names the file and the rebuild command."""


class ConfigError(RagError):
    """A configuration value (flag, environment variable) is invalid."""


class QuestionFileError(RagError):
    """A JSON-lines question file has a bad line; names the file and line."""


class SafetyBankError(RagError):
    """A safety example file (shipped or a clinic's own) has a bad line; names the file, line and field."""


class RepliesError(RagError):
    """A replies file (shipped or a clinic's own language) is unreadable or lacks a key; names the file and key."""


class ConversionError(FileProblem):
    """A file cannot be imported into the knowledge base (unreadable, encrypted, no text, unsupported, or its
    output already exists); names the file, the problem and what to do."""


class FeedbackError(RagError):
    """Patient feedback cannot be stored as given (no answer to rate, a comment over the limit)."""


class AuditQueryError(RagError):
    """A review-queue filter is invalid (e.g. a date not written YYYY-MM-DD)."""


class DatabaseError(RagError):
    """The audit database cannot be reached, or its schema is from another version."""


class StaffError(RagError):
    """A staff account command that cannot be done (exists already, no such account, weak password)."""
