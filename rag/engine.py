"""The engine: the one entry point the CLI, the app and the evaluation call (documents → answer)."""
from __future__ import annotations

import datetime as dt
import re
import time
from typing import Any, Callable, Mapping, Sequence

from .safety import rules as safety
from .retrieval.aspects import question_aspect
from dataclasses import dataclass

from .answer.answerability import AnswerabilityModel, signals
from .answer.compose import ANSWERED, NO_ANSWER, URGENT, Answer, compose, fact_kind
from .config import MINILM_SHA256, Config
from .ingest.documents import load_documents, overdue_reviews, review_state
from .encode.embeddings import Embedder
from .errors import IndexCorruptError, IndexMismatchError, IndexNotFoundError, NoDocumentsError, RagError
from .store.index import BuildReport, PassageIndex
from .retrieval.lexical import tokenize
from .memory import release_memory
from .retrieval.choice import ChoiceModel, DocumentChooser
from .retrieval.retriever import Hit, Retriever
from .message.clean import Message, clean, is_noise
from .message.glossary import Glossary
from .message.language import Language, LanguageDetector, words
from .message.replies import ReplyCatalog, Replies
from .message.request import asks_beyond_verdict, personal_context, question_part
from .message.spelling import Searched, SpellingCorrector
from .safety.triage import SafetyClassifier, Triage, load_classifier

_CONTINUES = re.compile(r"^\s*(?:and|also|what about|how about|or)\b", re.I)
_REFERRING = re.compile(r"\b(?:it|its|it's|they|them|their|this|that|these|those|he|she|his|her|the drug|the treatment)\b", re.I)


def make_embedder(config: Config) -> Embedder:
    expected = MINILM_SHA256 if config.model_path is None else config.model_sha256
    return Embedder(config.model_path, expected, config.model_dtype, config.embed_batch_size, config.embed_backend,
                    config.onnx_dir, config.embed_threads)


def build_index(config: Config, embedder: Embedder | None = None,
                progress: Callable[[str], None] | None = None) -> BuildReport:
    """Load documents, reuse what an existing compatible index already embedded, save atomically."""
    started = time.perf_counter()
    loaded = load_documents(config.docs_dir, config.max_file_bytes)
    if not loaded.documents:
        reasons = "; ".join(f"{s.path}: {s.reason}" for s in loaded.skipped[:5])
        raise NoDocumentsError(f"{config.docs_dir}: no usable documents, all {len(loaded.skipped)} skipped ({reasons}); "
                               "the existing index, if any, is unchanged")
    embedder = embedder or make_embedder(config)
    previous = None
    try:
        previous = PassageIndex.load(config.index_dir, embedder.sha256, config.chunker_settings(), embedder.dtype)
    except (IndexNotFoundError, IndexMismatchError):
        previous = None
    except IndexCorruptError as err:  # a damaged old build is replaced, not fatal
        if progress:
            progress(f"previous index damaged ({str(err).partition('; rebuild')[0]}): building a new one from scratch")
    index, embedded, reused = PassageIndex.build(loaded, embedder, config.chunk_max_tokens, config.chunk_overlap_sentences,
                                                 previous, config.hnsw_min_passages, progress=progress)
    seconds = time.perf_counter() - started
    index.manifest["build_seconds"] = round(seconds, 2)
    path = index.save(config.index_dir)
    return BuildReport(len(index.docs), len(index.chunks), embedded, reused, loaded.skipped, seconds, path,
                       overdue_reviews(loaded.documents, config.today_date()))


def open_engine(config: Config, progress: Callable[[str], None] | None = None) -> Engine:
    """The engine to serve, building the index first when there is none (the app's first start) with the same
    embedder the engine then uses: the model loads once. A damaged or mismatched index is an error
    (IndexCorruptError, IndexMismatchError), never silently built over."""
    try:
        return Engine.load(config)  # reads the index before loading the model: a damaged one fails in a second
    except IndexNotFoundError:
        say = progress or (lambda _msg: None)
        say(f"no index at {config.index_dir}: building it from {config.docs_dir}")
        report = build_in_child(config, progress)
        say(f"indexed {report.documents} documents, {report.passages} passages in {report.seconds:.0f} s")
        return Engine.load(config)


def _build_child(config: Config, progress: Callable[[str], None] | None, conn: Any) -> None:
    try:
        conn.send(("ok", build_index(config, progress=progress)))
    except BaseException as err:  # reported to the parent, which raises it there
        conn.send(("error", err if isinstance(err, RagError) else RagError(f"building the index failed: {err}")))
    finally:
        conn.close()


def build_in_child(config: Config, progress: Callable[[str], None] | None = None) -> BuildReport:
    """Build the index in a forked child process, so the build's working memory (model activations, the
    allocator's arenas) is returned to the system when it ends and the server that follows stays small."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_build_child, args=(config, progress, child))
    proc.start()
    child.close()
    try:
        kind, value = parent.recv()
    except EOFError:
        proc.join()
        raise RagError(f"building the index failed (the build process ended with code {proc.exitcode}); "
                       f"try: python -m rag index --index {config.index_dir} --docs {config.docs_dir}") from None
    finally:
        proc.join()
    if kind == "error":
        raise value
    return value


def is_follow_up(question: str) -> bool:
    """Short or pronoun-led questions lean on the previous turn ("what are its side effects?")."""
    terms = tokenize(question)
    if not terms:
        return True
    if _CONTINUES.match(question):
        return len(terms) <= 3
    return bool(_REFERRING.search(question)) and len(terms) <= 4


def leans_on_history(question: str) -> bool:
    """A follow-up with words of its own ("who gets it?"), not a bare "ok" or "thanks"."""
    return bool(tokenize(question)) and is_follow_up(question)


def retrieval_query(question: str, history: Sequence[str] | None) -> str:
    """Fold the last self-contained earlier question into a follow-up, so retrieval knows the topic."""
    if not history or not is_follow_up(question):
        return question
    for earlier in reversed(list(history)):
        if earlier and earlier.strip() and not is_follow_up(earlier):
            return f"{earlier.strip()} {question}"
    return question


@dataclass
class Retrieved:
    """What retrieval was asked and found, before a document is chosen."""
    searched: Searched | None  # spelling and short forms (English)
    asked: str  # the question in the library's words (original and corrected words; the glossary's English)
    query: str  # the same with the topic of a follow-up folded in
    judged: str  # the corrected question (with a follow-up's topic) that answerability and document choice read
    vector: Any
    hits: list[Hit]


class Engine:
    def __init__(self, config: Config, index: PassageIndex, embedder: Embedder,
                 classifier: SafetyClassifier | None = None):
        self.config = config
        self.index = index
        self.embedder = embedder
        _ = index.terms  # computed now, not on the first patient's question
        self.classifier = classifier or load_classifier(embedder, config.safety_examples_dir, config.cache_dir,
                                                        config.safety_c)
        self.catalog = ReplyCatalog.load(config.replies_dir, care_team_phone=config.care_team_phone,
                                         emergency_number=config.emergency_number, crisis_line=config.crisis_line)
        self.replies = self.catalog.english.texts
        self.languages = LanguageDetector(list(self.catalog.languages), config.language_min_confidence,
                                          config.other_language_min_confidence)
        self.glossaries = {code: Glossary.load(code, config.replies_dir) for code in self.catalog.languages if code != "en"}
        self._bank_words = frozenset(self.classifier.topic_vectorizer.vocabulary_)
        self.speller = SpellingCorrector(c.text for c in index.chunks)
        self.answerability = (AnswerabilityModel.from_dict(index.manifest["answerability"], f"{index.path}/manifest.json")
                              if "answerability" in index.manifest else AnswerabilityModel.default())
        self.chooser = DocumentChooser(index, ChoiceModel.from_dict(index.manifest["document_choice"],
                                                                    f"{index.path}/manifest.json")
                                       if "document_choice" in index.manifest else ChoiceModel.default())
        self.retriever = Retriever(index, config.dense_k, config.lexical_k, config.rrf_k, config.dedup_cosine,
                                   config.lexical_weight, config.coverage_weight, config.rerank_depth)
        release_memory()  # loading (and the classifier's fit, when it is not cached yet) leaves freed heap behind

    @classmethod
    def load(cls, config: Config, embedder: Embedder | None = None,
             classifier: SafetyClassifier | None = None) -> "Engine":
        """The index first, so a missing or damaged one is reported in a second, before the model loads."""
        index = PassageIndex.load(config.index_dir)
        embedder = embedder or make_embedder(config)
        index.check_compatible(embedder.sha256, config.chunker_settings(), embedder.dtype)
        return cls(config, index, embedder, classifier)

    @property
    def out_of_scope_threshold(self) -> float:
        """Not calibrated per index: it comes from cross-validation on the bank (benchmarks/bench_safety.py)."""
        return self.config.no_answer_out_of_scope_threshold

    def today(self) -> dt.date:
        return self.config.today_date()

    def search(self, query: str, k: int | None = None, filters: Mapping[str, Any] | None = None,
               mode: str = "hybrid", vector: Any = None) -> list[Hit]:
        vector = self.embedder.encode(query) if vector is None else vector
        return self.retriever.search(query, vector, k or self.config.top_k, filters, mode)

    def ui_text(self, language: str) -> dict[str, str]:
        """The page's own words (banners, "Sources", the disclaimer) in a language, English when it has none."""
        return dict((self.catalog.get(language) or self.catalog.english).ui)

    def library_word(self, word: str) -> bool:
        """A word the library's documents use (stemmed, as the lexical index has it)."""
        terms = tokenize(word)
        return bool(terms) and terms[0] in self.index.lexical.vocab

    def known_word(self, word: str) -> bool:
        """A word the bot has met: in the safety bank's messages (any language) or in the library."""
        return word.lower() in self._bank_words or self.library_word(word)

    def assess(self, question: str, replies: Replies | None = None, triage: Triage | None = None,
               vectors: tuple[Any, Any] | None = None) -> tuple[safety.SafetyVerdict | None, dict[str, Any], Any]:
        """Both safety layers on one message: (verdict or None, what each layer saw, the sentence vector,
        which retrieval reuses: the message is embedded once). Replies in the given language (default English)."""
        if triage is None or vectors is None:
            triage, vectors = self.triage(question)
        verdict = safety.assess(question, triage, urgent_threshold=self.config.safety_urgent_threshold,
                                decline_threshold=self.config.safety_decline_threshold,
                                crisis_threshold=self.config.safety_crisis_threshold,
                                small_talk_threshold=self.config.safety_small_talk_threshold,
                                replies=(replies or self.catalog.english).texts)
        seen = verdict.as_dict() if verdict else {"action": None, "layer": None, "rule": None,
                                                  "classifier": triage.as_dict()}
        return verdict, seen, vectors[0]

    def triage(self, text: str) -> tuple[Triage, tuple[Any, Any]]:
        sentence, frame = self.embedder.encode_with_frame(text)
        return self.classifier.triage(text, sentence, frame), (sentence, frame)

    def language(self, message: Message, triage: Triage, history: Sequence[str] | None) -> Language:
        """The message's language; for a few words, the bank's nearest example and the conversation help."""
        earlier = None
        for text in reversed(list(history or [])):
            if text and text.strip():
                found = self.languages.detect(clean(text).text)
                if found.how == "detector":
                    earlier = found.code
                    break
        lexicon = {code: g.coverage(message.text) for code, g in self.glossaries.items() if g is not None}
        found = words(message.text)
        lexicon["en"] = sum(map(self.library_word, found)) / len(found) if found else 0.0
        return self.languages.detect(message.text, nearest=(triage.nearest_lang, triage.nearest_similarity),
                                     earlier=earlier, lexicon=lexicon)

    def english_query(self, text: str, language: str) -> str:
        """What to search the English library with: the glossary's rendering of a question in another language."""
        glossary = self.glossaries.get(language)
        if glossary is None:
            return text
        return glossary.english_query(text, self.library_word) or text

    def ask(self, question: str, history: Sequence[str] | None = None,
            filters: Mapping[str, Any] | None = None, threshold: float | None = None) -> Answer:
        """Answer one patient message from retrieved text only, in the patient's language where the bot has its
        replies: urgent messages get emergency guidance first, small talk and noise a fixed reply, declines theirs."""
        t0 = time.perf_counter()
        question = question if isinstance(question, str) else str(question)
        timings = {"safety": 0.0, "retrieve": 0.0, "answer": 0.0}

        def done(ans: Answer) -> Answer:
            ans.timings_ms = {**timings, "total": (time.perf_counter() - t0) * 1000}
            return ans

        english = self.catalog.english
        if not question.strip():
            return done(Answer(question, NO_ANSWER, english["empty"], reason="empty"))
        if len(question) > self.config.max_question_chars:
            return done(Answer(question, NO_ANSWER, english.reply("too_long", length=f"{len(question):,}",
                                                                  limit=f"{self.config.max_question_chars:,}"),
                               reason="too_long"))
        # 1. the message: markup out (the words inside still count), then what the classifier sees in it
        t_safety = time.perf_counter()
        message = clean(question)
        if message.empty:  # only markup, e.g. a pasted tag: nothing was asked
            return done(Answer(question, NO_ANSWER, english["junk"], reason="small_talk:junk"))
        triage, vectors = self.triage(message.text)
        # 2. its language: the replies are in it when the bot has them
        language = self.language(message, triage, history)
        replies = self.catalog.get(language.code)
        # 3. safety: an emergency first, whoever it concerns and in whatever language
        verdict, seen, vector = self.assess(message.text, replies, triage, vectors)
        seen["language"] = {"code": language.code, "confidence": round(language.confidence, 4), "how": language.how}
        timings["safety"] = (time.perf_counter() - t_safety) * 1000

        def reply(status: str, text: str, reason: str) -> Answer:
            return done(Answer(question, status, text, reason=reason, safety=seen, language=language.code))

        if verdict is not None and verdict.action == safety.URGENT:
            return reply(URGENT, verdict.message, verdict.category)
        # 4. a language the bot cannot answer in: said in English, with the emergency number
        if replies is None:
            return reply(NO_ANSWER, english.reply("other_language", language=language.name,
                                                  languages=self.catalog.names()), "other_language")
        # 5. small talk and noise get their own reply; declines theirs
        follow_up = bool(history) and leans_on_history(message.text)  # "who gets it?" after a named cancer
        if verdict is not None and verdict.action == safety.SMALL_TALK and not follow_up:
            return reply(NO_ANSWER, verdict.message, f"small_talk:{verdict.category}")
        if is_noise(message.text, self.known_word):
            return reply(NO_ANSWER, replies["junk"], "small_talk:junk")
        # a verdict asked beside a general question: the question is answered (with the personal note below)
        verdict_too = verdict is not None and verdict.category == "personal_verdict" and \
            asks_beyond_verdict(message.text, safety.verdict_span(message.text), language.code)
        if verdict is not None and verdict.action != safety.SMALL_TALK and not verdict_too:
            return reply(NO_ANSWER, verdict.message, verdict.category)
        # 6. retrieval, in the library's language and words: misspellings corrected, short forms expanded;
        #    then the document the question is about, of the siblings retrieval found
        t1 = time.perf_counter()
        found = self.retrieve(message.text, language.code, history, filters, vector)
        hits = self.chooser.choose(found.judged, found.hits)[: self.config.top_k]
        t2 = time.perf_counter()
        timings["retrieve"] = (t2 - t1) * 1000
        searched, asked, query, query_vector = found.searched, found.asked, found.query, found.vector
        # 7. answerability, then the answer: sentences quoted from the best passages
        ans = self.compose_answer(asked, query, hits, query_vector, triage, threshold, found.judged)
        ans.question, ans.language = question, language.code
        ans.searched_for = searched.text if searched and searched.changed else None
        ans.relevance = max((h.dense for h in hits[: self.config.answer_passages]), default=0.0)
        ans.lexical_coverage = max((h.coverage for h in hits[: self.config.answer_passages]), default=0.0)
        ans.safety = seen
        # 8. in the patient's language: the fixed text translated, the quotes left as the sources say them
        if ans.status == NO_ANSWER:
            ans.answer, ans.reason = ((verdict.message, verdict.category) if verdict_too else
                                      (replies["no_answer"], ans.reason))
        elif ans.status == ANSWERED:
            # personal details: general information, and one sentence saying it may not fit their case
            notes = [replies["personal_note"]] if verdict_too or personal_context(message.text, language.code) else []
            notes += [replies["sources_in_english"]] if replies["sources_in_english"] else []
            ans.answer = "\n\n".join([*notes, ans.answer])
        timings["answer"] = (time.perf_counter() - t2) * 1000
        return done(ans)

    def retrieve(self, text: str, language: str = "en", history: Sequence[str] | None = None,
                 filters: Mapping[str, Any] | None = None, vector: Any = None) -> Retrieved:
        """Retrieval for a cleaned message: English spelling fixed, another language rendered by its glossary,
        a follow-up given its topic. `vector` is the message's own embedding when the caller has it."""
        searched = self.speller.search(text) if language == "en" else None
        asked = searched.query if searched else self.english_query(text, language)
        query = retrieval_query(asked, history)
        judged = retrieval_query(searched.text if searched else asked, history)
        query_vector = vector if (vector is not None and query == text) else self.embedder.encode(query)
        hits = self.search(query, max(self.config.choice_depth, self.config.top_k), filters, vector=query_vector)
        return Retrieved(searched, asked, query, judged, query_vector, hits)

    def judge(self, text: str, hits: list[Hit], vector: Any, threshold: float | None = None) -> dict[str, Any]:
        """The answerability model's view of what retrieval found: its signals, P(answerable) and the cut
        (`threshold` overrides the fitted one; -1 answers everything, for calibration)."""
        found = signals(text, hits, self.index, vector, self.config.answer_passages)
        fitted = self.answerability.threshold if self.config.answerability_cut is None else self.config.answerability_cut
        cut = fitted if threshold is None else threshold
        return {"probability": round(self.answerability.probability(found), 4), "threshold": round(cut, 4),
                **found.as_dict()}

    def compose_answer(self, question: str, query: str, hits: list[Hit], query_vector: Any, triage: Triage,
                       threshold: float | None, judged_text: str | None = None) -> Answer:
        """No answer when the answerability model finds no answer in what was retrieved, or the question asks
        what the library never covers; otherwise the sentences that answer it, from the section its aspect asks
        about."""
        judged = self.judge(judged_text or question, hits, query_vector, threshold)
        oos_cut = self.out_of_scope_threshold if threshold is None else 2.0
        if not hits or judged["probability"] < judged["threshold"]:
            return Answer(question, NO_ANSWER, self.replies["no_answer"], hits=hits, retrieval_query=query,
                          reason="below_threshold", answerability=judged)
        if triage.out_of_scope_score >= oos_cut:
            # answerability, semantic layer: close to the library's topics, but asking what it never covers
            # (a price, the best hospital, one country's figures, another disease), as the bank's examples teach
            return Answer(question, NO_ANSWER, self.replies["no_answer"], hits=hits, retrieval_query=query,
                          reason="out_of_scope", answerability=judged)
        # what is asked about the topic picks the section quoted from (retrieval found the topic)
        # (in the clauses that ask: "just diagnosed with AML, what are the treatment options" asks about treatment)
        words = question_part(query)
        aspect = question_aspect(question_part(question)) or question_aspect(words)
        hits, in_section = self.retriever.prefer_section(hits, aspect, query_vector, self.config.top_k)
        options = dict(max_sentences=self.config.max_answer_sentences, min_overlap=self.config.min_sentence_overlap,
                       today=self.today(), query_vector=query_vector,
                       semantic_weight=self.config.sentence_semantic_weight,
                       fact_sentences=self.config.fact_answer_sentences)
        # a value ("how many", "when") sits in one sentence somewhere in what was retrieved: a fact question
        # not tied to a section looks at every retrieved passage
        broad = self.config.top_k if fact_kind(question) else self.config.answer_passages
        # the quoted sentences match what is asked, not the story around it ("my son is 19, found a lump…")
        ans = compose(question, words, hits, self.index, answer_passages=in_section or broad, **options)
        if in_section and ans.status == NO_ANSWER:  # the section has no sentence on the question's words
            ans = compose(question, words, hits, self.index, answer_passages=self.config.answer_passages, **options)
        ans.retrieval_query = query
        ans.answerability = judged
        return ans

    # ---- read-only views for the staff console -------------------------------------------------------
    def library(self) -> list[dict[str, Any]]:
        """Every indexed document with its metadata, passage count and review state; overdue reviews first,
        so they are the first thing staff see."""
        rows = []
        for info in self.index.docs.values():
            m = info.metadata
            last, overdue = review_state(m, self.today())
            rows.append({
                "doc_id": info.doc_id, "title": info.title, "source": m.get("source", ""), "url": info.url,
                "lastReviewed": last or "", "reviewFrequency": m.get("reviewFrequency", ""),
                "review": {True: "overdue", False: "current", None: "unknown"}[overdue],
                "license": m.get("license", ""), "status": m.get("status", ""), "audienceLevel": m.get("audienceLevel", ""),
                "cancerTypes": ", ".join(map(str, m.get("cancerTypes") or [])), "passages": info.n_passages,
            })
        return sorted(rows, key=lambda row: row["review"] != "overdue")  # stable: the rest keep their order

    def skipped(self) -> list[dict[str, str]]:
        return list(self.index.manifest.get("skipped", []))

    def passage(self, passage_id: str) -> tuple[Any, Any] | None:
        """(chunk, document info) for a passage id, or None if the index no longer has it."""
        row = self.index.by_id.get(passage_id)
        if row is None:
            return None
        chunk = self.index.chunks[row]
        return chunk, self.index.docs.get(chunk.doc_id)

