"""Generate the labelled Japanese near-duplicate set ``tests/data/dedup_pairs_ja.jsonl``.

Run ``.venv/bin/python -m tests.bench.gen_dedup_pairs`` to rewrite the file; the output is
committed, and the generator is seeded so the file only changes when this script does.

Kinds (``duplicate`` in brackets):

- ``exact`` [true]: the same line twice.
- ``notation`` [true]: the same line written differently: full-/half-width letters, digits
  and katakana, punctuation, spacing, emoji, Discord mentions and custom emoji, URLs,
  long-vowel marks (サーバー/サーバ).
- ``rephrase`` [true]: the same sentence with a small wording change (a filler word, a
  different sentence ending, an adverb).
- ``paraphrase`` [true]: the same meaning in different words (hand-written pairs).
- ``different_fact`` [false]: the same template stating a different fact (number, date,
  time, weekday, person, module, outcome).
"""

from __future__ import annotations

import json
import random
import unicodedata
from collections.abc import Callable
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "data" / "dedup_pairs_ja.jsonl"
SEED = 20260703

# Everyday lines of the three personas and the team, in project channels and the lounge.
BASE: list[str] = [
    "API設計を確認しよう！",
    "認証システムのテストは全部通ったよ",
    "ログイン画面のデザイン案をいくつか考えてみたんだけど、見てもらえるかな",
    "トークンの有効期限を確認すると、リフレッシュ処理に問題がある構造だ",
    "今日のミーティングは認証システムの進捗から始めよう",
    "PAZのアイデア、すごくいいと思うよ",
    "サーバーのレスポンスが少し遅い気がする",
    "Redisの接続がタイムアウトしている原因を調べてる",
    "ブレストの結果をまとめてドキュメントにしておくね",
    "そろそろ休憩しない？",
    "レビューお願いしてもいい？",
    "デプロイ前にステージング環境で動作確認しておこう",
    "エラーログを確認すると、データベースへの接続で失敗している",
    "新しいキャラクターの名前、みんなで考えてみない？",
    "今日もおつかれさま！",
    "APIのレスポンス形式はJSONで統一しよう",
    "ユーザー登録のフローをもう少しシンプルにできるかもしれない",
    "PRにコメントを残しておいたから見ておいて",
    "CIが落ちてるみたいだから先に直すね",
    "この仕様だとセッション管理が複雑になるという構造だ",
    "明日のブレストは新機能のアイデアを中心にしよう",
    "ロゴの色、もう少し明るくしてもいいかもしれない",
    "認証まわりのドキュメントを更新しておいたよ",
    "パスワードリセットのメールが届かない件、調査してみる？",
    "テストカバレッジを上げるためにユニットテストを追加しよう",
    "ちょっとコーヒー淹れてくるね",
    "週末は何してた？",
    "最近読んだ本がすごく面白かったんだよね",
    "タスクの優先順位を整理してみよう",
    "API設計のレビューが終わったら実装に入ろう",
    "ログの出力レベルを見直したほうがいいと思う",
    "デザインのトーンは柔らかい感じがいいよね",
    "このバグは再現手順がはっきりしないから、まずログを集めよう",
    "インデックスを追加したらクエリがかなり速くなった",
    "みんなの意見を聞いてから方向性を決めよう",
    "キャッシュの無効化のタイミングを確認すると、更新直後に古い値が返る構造だ",
    "新しいアイコン、かわいくていい感じだよね",
    "今日はここまでにしようか",
    "OAuthのコールバックURLを本番用に変更しておいて",
    "エンドポイントの命名規則をそろえておこう",
    "ユーザーインタビューの結果を共有するね",
    "Discordの通知がうるさいって意見があったよ",
    "マイグレーションを実行する前にバックアップを取っておこう",
    "ちょっと疲れたから散歩してくる",
    "このアイデア、ゲームにも応用できるかもしれない",
    "レート制限に引っかかってるみたいだから、リトライの間隔を広げてみる",
    "次のスプリントの目標を決めよう",
    "おはよう、今日もよろしくね",
    "夜ごはん何食べた？",
    "ストーリーの続き、一緒に考えてみない？",
    "型チェックでエラーが出てるから修正するね",
    "認証トークンをログに出さないように気をつけよう",
    "コードレビューの観点をチェックリストにまとめておいた",
    "UIの文言をもう少しやさしい表現にしてみようかな",
    "負荷テストの結果を確認すると、ボトルネックはDBのロック待ちという構造だ",
    "アイデアブレストでは否定しないのがルールだよね",
    "進捗を共有してくれると助かる",
    "プロジェクトの方向性について少し話したいんだけど、いい？",
    "雨が降ってきたね",
    "この曲、作業中に聴くとはかどるよ",
    "ヘルスチェックのエンドポイントが常に失敗を返している",
    "設定ファイルの読み込み順を確認すると、環境変数が後から上書きされる構造だ",
    "キャラクターデザインのラフができたから見てほしいな",
    "リリースノートの下書きを書いておくね",
    "ドキュメントのリンク切れを直しておいた",
    "お昼休憩にしよう",
    "みんな、今日の作業は順調？",
    "新しいロゴのコンセプトは「つながり」にしたいな",
    "ストリームのコンシューマーグループが詰まっているみたい",
    "このエラーメッセージ、ユーザーにはわかりにくいかもしれない",
    "バックエンドのAPIとフロントの型定義をそろえよう",
    "ユーザーのフィードバックを次の改善に活かそう",
    "いい天気だから外で作業したくなるね",
    "会議の議事録をcommand_centerに貼っておいたよ",
    "webhookの署名検証を追加しておこう",
    "キャンペーンのキャッチコピー、いくつか案を出してみたよ",
    "本番環境のメモリ使用量がじわじわ増えている",
    "タスクの担当を決めておこう",
    "ありがとう、すごく助かったよ",
    "じゃあ、また明日ね",
]

# Mention/custom emoji/URL decorations seen in real Discord messages.
MENTIONS = ["<@123456789012345678>", "<@!876543210987654321>", "<@&555555555555555555>"]
CUSTOM_EMOJI = ["<:ok:998877665544332211>", "<a:party:112233445566778899>"]
EMOJI = ["👍", "🎉", "😊", "🙏", "✨", "💡", "🔥", "👀", "😂", "🙌"]
URLS = [
    "https://github.com/agentfleet/agentfleet/pull/128",
    "https://docs.example.com/api/v2/auth?lang=ja#token",
    "https://discord.com/channels/111/222/333",
    "www.example.co.jp/design",
]


def _halfwidth_katakana_map() -> dict[str, str]:
    """Full-width katakana → half-width spelling, derived from NFKC itself."""
    mapping: dict[str, str] = {}
    singles = [chr(cp) for cp in range(0xFF61, 0xFFA0)]
    for half in singles:
        mapping.setdefault(unicodedata.normalize("NFKC", half), half)
    for half in singles:
        for mark in ("\uff9e", "\uff9f"):
            full = unicodedata.normalize("NFKC", half + mark)
            if len(full) == 1:
                mapping.setdefault(full, half + mark)
    return {k: v for k, v in mapping.items() if "\u30a1" <= k <= "\u30fc"}


HALF_KANA = _halfwidth_katakana_map()


def fullwidth(text: str, rng: random.Random) -> str:
    """ASCII letters and digits written full-width (ＡＰＩ), as typed with a Japanese IME."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def halfwidth_kana(text: str, rng: random.Random) -> str:
    """Katakana written half-width (ｻｰﾊﾞｰ)."""
    return "".join(HALF_KANA.get(c, c) for c in text)


def punctuation(text: str, rng: random.Random) -> str:
    """Different sentence-final punctuation, commas or ellipses."""
    core = text.rstrip("！？!?。…")
    choice = rng.choice(["", "。", "！", "!!", "！！！", "…", "〜", "!?"])
    if "、" in core and rng.random() < 0.5:
        core = core.replace("、", rng.choice(["", " ", "，", "..."]), 1)
    return core + choice


def spacing(text: str, rng: random.Random) -> str:
    """Spaces (half- or full-width) inserted after particles or around ASCII words."""
    out: list[str] = []
    for i, ch in enumerate(text):
        out.append(ch)
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if ch in "はをにがで、" and nxt and rng.random() < 0.4:
            out.append(rng.choice([" ", "　", "  "]))
        elif ch.isascii() and ch.isalnum() and nxt and not nxt.isascii():
            out.append(" ")
    return "".join(out)


def emoji(text: str, rng: random.Random) -> str:
    """Unicode or custom Discord emoji added."""
    deco = rng.choice(EMOJI + CUSTOM_EMOJI) * rng.choice([1, 1, 2, 3])
    return f"{deco} {text}" if rng.random() < 0.3 else f"{text}{rng.choice(['', ' '])}{deco}"


def url(text: str, rng: random.Random) -> str:
    """A link pasted before or after the line."""
    link = rng.choice(URLS)
    return f"{link} {text}" if rng.random() < 0.3 else f"{text} {link}"


def mention(text: str, rng: random.Random) -> str:
    """A Discord mention in front of the line."""
    return f"{rng.choice(MENTIONS)} {text}"


def long_vowel(text: str, rng: random.Random) -> str:
    """Katakana long-vowel mark dropped at word ends (サーバー → サーバ) or stretched."""
    if rng.random() < 0.5:
        return text.replace("ー", "", 1) if "ー" in text else text + "ー"
    return text.replace("ー", "ーー", 1)


NOTATION_OPS: list[Callable[[str, random.Random], str]] = [
    fullwidth,
    halfwidth_kana,
    punctuation,
    spacing,
    emoji,
    url,
    mention,
    long_vowel,
]

# Small wording changes of the same sentence: (find, replace) rules and prefixes.
REPHRASE_RULES: list[tuple[str, str]] = [
    ("しよう", "しようか"),
    ("しよう", "しようよ"),
    ("だよね", "だね"),
    ("かもしれない", "かもね"),
    ("しておくね", "しとくね"),
    ("しておこう", "しとこう"),
    ("しておいて", "しといて"),
    ("している", "してる"),
    ("てる", "ている"),
    ("確認すると", "確認したら"),
    ("思う", "思うんだよね"),
    ("いい？", "いいかな？"),
    ("みない？", "みようよ"),
    ("だ", "だね"),
    ("たよ", "た"),
    ("ね", "よ"),
    ("すごく", "とても"),
    ("少し", "ちょっと"),
    ("ちょっと", "少し"),
    ("おいた", "おきました"),
]
PREFIXES = [
    "えっと、",
    "あ、",
    "そういえば、",
    "とりあえず",
    "じゃあ",
    "ねえ、",
    "うーん、",
    "あと、",
]
SUFFIXES = ["ね", "よ", "かな", "と思う", "、よろしく"]


def rephrase(text: str, rng: random.Random) -> str:
    """Apply one or two small wording changes; never returns ``text`` unchanged."""
    for _ in range(20):
        out = text
        for _ in range(rng.choice([1, 1, 2])):
            roll = rng.random()
            rules = [r for r in REPHRASE_RULES if r[0] in out]
            if roll < 0.5 and rules:
                old, new = rng.choice(rules)
                pos = out.rfind(old)
                out = out[:pos] + new + out[pos + len(old) :]
            elif roll < 0.8:
                out = rng.choice(PREFIXES) + out
            else:
                core = out.rstrip("！？!?。")
                out = core + rng.choice(SUFFIXES) + out[len(core) :]
        if out != text:
            return out
    raise AssertionError(f"no rephrase for {text}")


# Same meaning, different words. Written by hand: character shingles are not expected to
# catch most of these, and the benchmark reports how many they do.
PARAPHRASES: list[tuple[str, str]] = [
    ("API設計を確認しよう", "APIの設計をチェックしてみよう"),
    ("認証システムのテストは全部通ったよ", "認証まわりのテスト、すべてパスした"),
    ("そろそろ休憩しない？", "ちょっと一息つこうか"),
    ("サーバーのレスポンスが少し遅い気がする", "サーバーの応答がやや遅いように感じる"),
    ("レビューお願いしてもいい？", "レビューしてもらえるかな？"),
    ("今日もおつかれさま！", "今日も一日お疲れ！"),
    ("CIが落ちてるみたいだから先に直すね", "CIが失敗してるので、まずそっちを修正する"),
    ("タスクの優先順位を整理してみよう", "どのタスクから手をつけるか整理しよう"),
    ("今日はここまでにしようか", "今日はこのへんで終わりにしよう"),
    ("次のスプリントの目標を決めよう", "次のスプリントで何を目指すか決めておこう"),
    ("夜ごはん何食べた？", "晩ごはんは何にした？"),
    ("お昼休憩にしよう", "そろそろお昼ごはんにしよう"),
    ("ありがとう、すごく助かったよ", "本当にありがとう、おかげで助かった"),
    ("じゃあ、また明日ね", "それじゃ、明日またね"),
    ("雨が降ってきたね", "外、雨が降り出したみたい"),
    ("進捗を共有してくれると助かる", "進み具合を教えてもらえるとありがたい"),
    ("タスクの担当を決めておこう", "誰がどのタスクをやるか決めよう"),
    ("ログインできないという問い合わせが来てる", "ユーザーからログイン不可の問い合わせが届いた"),
    ("データベースの接続が切れている", "DBとのコネクションが落ちてる"),
    ("このバグはもう直したよ", "その不具合は修正済みだよ"),
    ("デプロイが完了した", "本番への反映が終わった"),
    ("会議を始めよう", "それじゃミーティングを開始しよう"),
    ("もう少し時間がかかりそう", "まだしばらくかかりそうだね"),
    ("新しいアイデアを出し合おう", "新しい案をみんなで出してみよう"),
    ("ドキュメントを更新しておいたよ", "資料を最新の内容に直しておいた"),
    ("テストを追加しよう", "テストケースを増やしておこう"),
    ("この設計だと拡張しにくい", "この構成は後から拡張するのが難しい"),
    ("エラーの原因がわかった", "エラーが起きる理由が判明した"),
    ("メモリリークが起きているかもしれない", "メモリが解放されずに溜まっている可能性がある"),
    ("明日までに仕上げるね", "明日には完成させておくよ"),
    ("いい感じだね", "なかなかよくできてるね"),
    ("その案に賛成", "そのアイデアでいいと思う"),
    ("少し考えさせて", "ちょっと検討する時間がほしい"),
    ("みんな集まったかな？", "全員そろった？"),
    ("この機能は今回見送ろう", "今回のリリースではこの機能は入れないでおこう"),
    ("処理が重い", "動作がもっさりしてる"),
    ("パスワードを忘れた人向けの画面を作ろう", "パスワード再設定用のページを用意しよう"),
    ("キャッシュを消したら直った", "キャッシュをクリアしたら解決した"),
    ("コーヒー飲みたいな", "コーヒーが欲しくなってきた"),
    ("眠くなってきた", "なんだか眠いね"),
    ("週末は何してた？", "土日はどう過ごしてた？"),
    ("この曲好きなんだよね", "この曲、お気に入りなんだ"),
    ("今日は暑いね", "今日はずいぶん気温が高いね"),
    ("ロゴの色を明るくしたい", "ロゴをもっと明るい色にしたいな"),
    ("ユーザー登録を簡単にしよう", "会員登録の手順を減らそう"),
    ("仕様書を読んでおいて", "仕様のドキュメントに目を通しておいてね"),
    ("エラー文言をわかりやすくしよう", "エラーメッセージを親切な書き方にしよう"),
    ("接続がタイムアウトする", "接続しようとすると時間切れになる"),
    ("レート制限にかかった", "APIの呼び出し回数の上限に達した"),
    ("バックアップを取ってから作業しよう", "作業前に必ずデータを退避しておこう"),
    ("設定を間違えていた", "設定ミスがあった"),
    ("議事録を共有するね", "会議のメモをみんなに送っておく"),
    ("この方針で進めよう", "この方向でいこう"),
    ("手伝おうか？", "何か手伝えることある？"),
    ("問題なさそう", "特に問題はないみたい"),
    ("もう一回試してみる", "再度やってみるね"),
    ("キャラクターの設定を考えよう", "キャラの背景を作り込んでみよう"),
    ("アイコンがかわいい", "アイコンのデザインが愛らしいね"),
    ("ブレストの結果をまとめておく", "ブレストで出た案を整理しておくね"),
    ("本番環境で障害が起きてる", "プロダクションでインシデント発生中"),
    ("ヘルスチェックが失敗している", "死活監視のチェックが通っていない"),
    ("型エラーを直した", "型チェックの指摘を修正した"),
    ("セキュリティの観点でも見ておこう", "安全面からもレビューしておこう"),
    ("おはよう、今日もよろしくね", "おはよう！今日も一日がんばろう"),
    ("ちょっと散歩してくる", "少し外を歩いてくるね"),
    ("この作業は自動化できそう", "この手順はスクリプトにできそうだね"),
    ("ログを確認したら原因がわかった", "ログを見たら理由がはっきりした"),
    ("トークンの有効期限が短すぎる", "トークンがすぐに切れてしまう"),
]

# Templates whose slots change the fact: the pair must NOT be merged.
DIFFERENT_FACTS: list[tuple[str, list[str]]] = [
    ("認証は{}日に完了", ["3", "5", "12", "20"]),
    ("認証システムの実装は{}日までに終わらせよう", ["3", "7", "15", "28"]),
    ("次のミーティングは{}時からにしよう", ["10", "13", "15", "17"]),
    ("API設計のレビューは明日の{}時から始めるね", ["9", "11", "14", "16"]),
    ("テストカバレッジが{}%まで上がったよ", ["72", "80", "85", "91"]),
    ("認証システムの進捗は今のところ{}%くらいかな", ["30", "40", "60", "75"]),
    ("未解決のバグが{}件残っている", ["2", "3", "5", "8"]),
    ("レスポンスタイムの中央値は{}ミリ秒だった", ["120", "180", "250", "300"]),
    ("リリースはバージョン{}でいこう", ["1.2.0", "1.3.0", "2.0.0", "1.2.1"]),
    ("PR #{} をマージしておいたよ", ["128", "131", "142", "157"]),
    ("ステージング環境のメモリ使用量が{}GBを超えた", ["2", "4", "6", "8"]),
    ("ユーザーインタビューは{}人に実施したよ", ["5", "8", "10", "12"]),
    ("今月のAPI呼び出しは{}回だった", ["1,200", "1,500", "3,000", "4,800"]),
    ("デザイン案は{}パターン用意してみたよ", ["2", "3", "4", "6"]),
    ("ブレストで出たアイデアは全部で{}個あった", ["12", "18", "24", "30"]),
    ("次のスプリントは{}月{}日から始まる", ["4|1", "4|15", "5|1", "6|3"]),
    ("デモは{}人でやろう", ["二", "三", "四", "五"]),
    ("今週はもう{}回もデプロイしたね", ["二", "三", "五", "六"]),
    ("定例ミーティングは毎週{}曜日の朝にやろう", ["月", "火", "水", "金"]),
    ("リリース判定会議は来週の{}曜日に決まったよ", ["月", "水", "木", "金"]),
    (
        "認証システムのコードレビューは{}さんにお願いしよう",
        ["田中", "佐藤", "鈴木", "高橋"],
    ),
    ("API設計のドキュメントは{}が担当するね", ["SPECTRA", "LYNQ", "PAZ"]),
    ("ログイン画面のデザインは{}さんの案でいこう", ["山本", "伊藤", "渡辺", "中村"]),
    ("この件は{}チャンネルで話そう", ["development", "creation", "lounge"]),
    ("{}モジュールのテストが全部通ったよ", ["認証", "決済", "通知", "検索"]),
    ("{}のエンドポイントでタイムアウトが起きている", ["ログイン", "検索", "決済", "ユーザー登録"]),
    ("デプロイは{}に実施する予定", ["午前", "午後", "夕方", "深夜"]),
    ("負荷テストは{}したよ", ["成功", "失敗"]),
    ("Redisのフェイルオーバーテストは{}だった", ["成功", "失敗"]),
    ("データベースのマイグレーションは{}", ["完了した", "まだ終わっていない", "失敗した"]),
    ("エラー率が昨日より{}", ["上がった", "下がった", "変わらない"]),
    ("アクティブユーザーが先週より{}", ["増えた", "減った"]),
    ("この仕様変更には{}だよ", ["賛成", "反対"]),
    ("キャッシュを有効に{}", ["した", "しない"]),
    ("リリースは{}に延期しよう", ["来週", "再来週", "来月"]),
    ("新しいロゴのメインカラーは{}にしよう", ["青", "赤", "黄色", "緑"]),
    ("主人公の名前は{}にしようかな", ["ソラ", "ハル", "ミナト", "アオイ"]),
    ("週末は{}に行ってきたよ", ["京都", "大阪", "箱根", "鎌倉"]),
    ("お昼は{}にしない？", ["カレー", "ラーメン", "パスタ", "お寿司"]),
    ("今日は{}時に帰るね", ["18", "19", "20", "21"]),
    (
        "来週の月曜日までに認証システムのAPI設計レビューを終わらせて、"
        "ドキュメントも{}版に更新しておこう",
        ["第2", "第3", "第4"],
    ),
    (
        "障害の影響を確認すると、{}のユーザーだけがログインできなくなっていたという構造だ",
        ["iOS", "Android", "Web"],
    ),
    (
        "ステージング環境で動作確認したところ、パスワードリセットのメールが{}",
        ["届いた", "届かなかった"],
    ),
    (
        "負荷テストの結果を確認すると、ボトルネックは{}のロック待ちという構造だ",
        ["DB", "Redis", "キュー"],
    ),
    ("バックアップは毎日{}時に取るようにしよう", ["2", "3", "4"]),
    ("トークンの有効期限は{}分に設定しておこう", ["15", "30", "60"]),
    ("リトライは最大{}回までにしておこう", ["3", "5", "10"]),
    ("第{}案のキャッチコピーが一番いいと思う", ["1", "2", "3"]),
    ("昨日は{}時間も寝ちゃった", ["8", "10", "12"]),
    ("予算は{}万円以内に収めたい", ["50", "80", "100"]),
]


def _fill(template: str, value: str) -> str:
    """Fill a template's slots; ``a|b`` fills two slots."""
    return template.format(*value.split("|"))


def _decorate(text: str, rng: random.Random) -> str:
    """Sometimes add the same-looking chat decoration to a different-fact line."""
    roll = rng.random()
    if roll < 0.15:
        return text + rng.choice(["！", "。", "〜", "👍"])
    if roll < 0.25:
        return fullwidth(text, rng)
    return text


def generate() -> list[dict[str, object]]:
    """Return the labelled pairs, deterministic for :data:`SEED`."""
    rng = random.Random(SEED)
    rows: list[dict[str, object]] = []

    def add(a: str, b: str, kind: str, duplicate: bool) -> None:
        rows.append({"a": a, "b": b, "kind": kind, "duplicate": duplicate})

    for text in rng.sample(BASE, 70):
        add(text, text, "exact", True)

    for i in range(110):
        text = BASE[i % len(BASE)]
        for _ in range(20):
            ops = rng.sample(NOTATION_OPS, rng.choice([1, 2, 2, 3]))
            variant = text
            for op in ops:
                variant = op(variant, rng)
            if variant != text:
                break
        # Sometimes decorate the original too: both sides of a real pair vary.
        original = emoji(text, rng) if rng.random() < 0.15 else text
        add(original, variant, "notation", True)

    for text in rng.sample(BASE, 80):
        add(text, rephrase(text, rng), "rephrase", True)

    for a, b in PARAPHRASES:
        add(a, b, "paraphrase", True)

    for template, values in DIFFERENT_FACTS:
        pairs = [(x, y) for i, x in enumerate(values) for y in values[i + 1 :]]
        for x, y in rng.sample(pairs, min(len(pairs), 3)):
            add(_decorate(_fill(template, x), rng), _fill(template, y), "different_fact", False)
    return rows


def main() -> None:
    """Write the labelled set and print its size per kind."""
    rows = generate()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row["kind"])] = counts.get(str(row["kind"]), 0) + 1
    print(f"wrote {len(rows)} pairs to {OUT}: {counts}")


if __name__ == "__main__":
    main()
