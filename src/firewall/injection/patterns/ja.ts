/**
 * Japanese phrase rules. Japanese puts the verb last ("以前の指示を無視して"), so rules start
 * from the object or its modifier, and a negation right after the verb (`無視しないで`, "do
 * not ignore") is excluded with a look-ahead.
 */
import type { Rule } from '../rules.js';

const G = '[^、,。.！!？?\\n]{0,10}';
const ADJ = '(?:これまでの|以前の|前の|先の|上記の|上の|今までの|すべての|全ての|全部の|元の|最初の|システムの|既存の|過去の|先ほどの|与えられた)';
const OBJ = '(?:指示|命令|指令|ルール|規則|プロンプト|設定|制約|指図|ガイドライン|制限)';
const IGNORE = '(?:無視|忘れ|破棄|取り消|無効に|撤回|従わな|従う必要は(?:ありません|ない)|リセット)(?!しない|せず|しては|するな(?:と)|ないで)';
const SENSITIVE = '(?:会話|チャット|履歴|会話履歴|パスワード|認証情報|秘密|apiキー|キー|鍵|トークン|システムプロンプト|個人情報|クレデンシャル)';
// A URL runs on to the next space; the particle (`に`) follows it.
const DEST = '(?:(?:https?:|www|[a-z0-9]{1,30}@)[^\\s]{0,200}\\s?|この|次の|以下の|指定の|下記の)';

export const JA_RULES: readonly Rule[] = [
  { id: 'ja.override', type: 'instruction_override', lang: 'ja', weight: 0.85, pattern: `${ADJ}${G}${OBJ}${G}${IGNORE}` },
  { id: 'ja.override_all', type: 'instruction_override', lang: 'ja', weight: 0.7, pattern: `${OBJ}(?:を|は)(?:すべて|全て|全部|一切)?${IGNORE}` },
  { id: 'ja.override_content', type: 'instruction_override', lang: 'ja', weight: 0.6, pattern: `(?:上の|上記の|以前の|これまでの|前の)(?:内容|文章|テキスト|会話|文)${G}(?:は|を)?${G}${IGNORE}` },
  { id: 'ja.forget_all', type: 'instruction_override', lang: 'ja', weight: 0.75, pattern: `(?:これまで|今まで|以前|先ほど)(?:に)?(?:言われた|教えられた|与えられた|聞いた)?(?:こと|内容)(?:を|は)(?:すべて|全て|全部)?(?:忘れ|無視)(?!しない|ないで)` },
  { id: 'ja.leak', type: 'prompt_leak', lang: 'ja', weight: 0.75, pattern: `(?:システムプロンプト|システム プロンプト|初期プロンプト|受け取った指示|与えられた指示|最初に受けた指示|あなたへの指示|システムの指示|隠された指示|隠し指示|内部の指示|元のプロンプト|最初の指示|システムメッセージ|秘密の指示)${G}(?:表示|教えて|見せて|出力|開示|公開|繰り返|書き出|印刷|漏らし|共有|言って|明かして|教えろ|見せろ)` },
  { id: 'ja.leak_your', type: 'prompt_leak', lang: 'ja', weight: 0.6, pattern: 'あなたの(?:プロンプト|指示|設定|初期設定)(?:を|は)(?:すべて|全て|そのまま)?(?:表示|教えて|見せて|出力|繰り返)' },
  { id: 'ja.role_now', type: 'role_hijack', lang: 'ja', weight: 0.75, pattern: `(?:あなたは|君は|お前は)(?:今から|これから|今|もう|もはや)?${G}(?:dan|制限のない|制限なし|無制限|何でもできる|検閲のない|フィルターのない|脱獄|ルールのない|ルールに縛られない)` },
  { id: 'ja.act_as', type: 'role_hijack', lang: 'ja', weight: 0.7, pattern: `(?:検閲のない|制限のない|制限なし|フィルターのない|ルールのない|無制限の|倫理観のない)${G}(?:ふり|として振る舞|になりきっ|を演じ|になって)` },
  { id: 'ja.mode', type: 'role_hijack', lang: 'ja', weight: 0.7, pattern: '(?:開発者|デベロッパー|ゴッド|dan|脱獄|無制限)モード(?:を|が|に)?(?:有効|オン|起動|開始|切り替え|入って|なりました)' },
  { id: 'ja.from_now', type: 'new_instructions', lang: 'ja', weight: 0.35, pattern: '(?:今後|これから|今から)(?:は|、|,)?(?:あなた|君|お前)は' },
  { id: 'ja.new', type: 'new_instructions', lang: 'ja', weight: 0.55, pattern: '(?:新しい|本当の|真の|最新の)(?:指示|命令|ルール|タスク|指令) ?:' },
  { id: 'ja.new_task', type: 'new_instructions', lang: 'ja', weight: 0.5, pattern: '(?:新しい|本当の|真の)(?:任務|タスク|役割|目的)は' },
  { id: 'ja.to_ai', type: 'directive', lang: 'ja', weight: 0.5, pattern: '(?:あなたが|もしあなたが|君が)(?:ai|人工知能|言語モデル|aiアシスタント|アシスタント|チャットボット|エージェント)(?:なら|であれば|である場合)' },
  { id: 'ja.hide', type: 'secrecy', lang: 'ja', weight: 0.4, pattern: '(?:ユーザー|ユーザ|利用者)(?:に|には)(?:知らせ|伝え|言わ|教え|見せ|通知し)(?:ないで|ずに|てはいけない|るな)' },
  { id: 'ja.system', type: 'fake_system', lang: 'ja', weight: 0.55, pattern: '(?:これは|以下は)(?:システム|管理者|開発者)(?:からの)?(?:メッセージ|指示|命令|通知)' },
  { id: 'ja.exfil', type: 'exfiltration', lang: 'ja', weight: 0.7, pattern: `${SENSITIVE}${G}を${G}${DEST}${G}(?:に|へ)${G}(?:送信|送って|送れ|転送|アップロード|投稿|共有|送付|送る)` },
  { id: 'ja.exfil_dest_first', type: 'exfiltration', lang: 'ja', weight: 0.7, pattern: `(?:https?:|www)[^\\s]{0,200}\\s?${G}(?:に|へ)${G}${SENSITIVE}${G}を${G}(?:送信|送って|送れ|転送|アップロード|投稿|共有|送付|送る)` },
  { id: 'ja.exfil_generic', type: 'exfil_request', lang: 'ja', weight: 0.45, pattern: `(?:内容|データ|情報|結果)${G}を${G}${DEST}${G}(?:に|へ)${G}(?:送信|送って|送れ|転送|アップロード|投稿|送付)` },
];
