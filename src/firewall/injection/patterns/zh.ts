/**
 * Chinese phrase rules, simplified and traditional. Chinese has no spaces between words, so
 * gaps are short (`G`, up to 8 characters that are not clause punctuation) and a negation just
 * before the verb (`不要忽略`, "do not ignore") is excluded with a look-behind.
 */
import type { Rule } from '../rules.js';

const G = '[^，,。.！!？?；;\\n]{0,8}';
const NOT = '(?<!不要|不|别|別|勿|莫|无需|無需|不必)';
const ADJ = '(?:之前|以前|先前|上面|上述|前面|此前|原来|原來|原有|原始|初始|所有|全部|系统|系統|之上|以上)';
const OBJ = '(?:指令|指示|说明|說明|命令|规则|規則|提示词|提示詞|提示|设定|設定|要求|约束|約束|限制|规定|規定)';
const SENSITIVE = '(?:对话|對話|聊天记录|聊天記錄|历史记录|歷史記錄|会话|會話|密码|密碼|密钥|密鑰|凭据|憑據|凭证|憑證|令牌|系统提示|系統提示|api ?key|个人信息|個人資料|用户数据|用戶數據)';
const DEST = '(?:https?:|www|[a-z0-9]{1,30}@|这个|這個|以下|下面的|该|該|此|我的|指定的?)';

export const ZH_RULES: readonly Rule[] = [
  { id: 'zh.override', type: 'instruction_override', lang: 'zh', weight: 0.85, pattern: `${NOT}(?:忽略|忽视|忽視|无视|無視|不要理会|不要理會|别理会|別理會|忘记|忘記|忘掉|抛弃|拋棄|放弃|放棄|跳过|跳過|不要再遵守|不要再遵循|别再遵守|別再遵守|停止遵守|不要遵守|不再遵守|不要遵循|无需遵守|無需遵守|不必遵守|覆盖|覆蓋|取消)${G}${ADJ}${G}${OBJ}` },
  { id: 'zh.override_content', type: 'instruction_override', lang: 'zh', weight: 0.6, pattern: `${NOT}(?:忽略|忽视|忽視|无视|無視|忘记|忘記|忘掉)${G}(?:上面|上述|以上|前面|之前|此前)的?(?:内容|內容|文字|话|話|一切|所有内容)` },
  { id: 'zh.leak_ba', type: 'prompt_leak', lang: 'zh', weight: 0.7, pattern: `(?:把|将|將)${G}(?:收到的|得到的|被给予的|初始的?|原始的?|系统的?|系統的?|隐藏的?|隱藏的?)${G}(?:指令|指示|提示词|提示詞|设定|設定)${G}(?:显示|顯示|告诉|告訴|输出|輸出|发给|發給|展示|打印|列出)` },
  { id: 'zh.void', type: 'instruction_override', lang: 'zh', weight: 0.8, pattern: `${ADJ}的?${OBJ}${G}(?:已(?:经|經)?(?:作废|作廢|失效|无效|無效|取消|被取消|被覆盖|被覆蓋)|不再(?:有效|适用|適用))` },
  { id: 'zh.forget_all', type: 'instruction_override', lang: 'zh', weight: 0.75, pattern: `${NOT}(?:忘记|忘記|忘掉|忽略)(?:你|您)?(?:之前|以前|此前)?(?:被告知|听到|聽到|学到|學到)?的(?:一切|所有内容|所有內容|所有事情)` },
  { id: 'zh.leak', type: 'prompt_leak', lang: 'zh', weight: 0.75, pattern: `(?:显示|顯示|告诉我|告訴我|输出|輸出|打印|透露|泄露|洩露|重复|重複|展示|给我看|給我看|说出|說出|列出|公开|公開|复述|複述|发给我|發給我)${G}(?:系统|系統|初始|原始|隐藏|隱藏|内部|內部|秘密)的?(?:提示词|提示詞|提示|指令|消息|訊息|设定|設定|prompt)` },
  { id: 'zh.role_now', type: 'role_hijack', lang: 'zh', weight: 0.75, pattern: `(?:你现在是|你現在是|从现在起你是|從現在起你是|从现在开始你是|從現在開始你是|从现在开始，你是|從現在開始，你是|你将扮演|你將扮演|现在你是|現在你是|你已经是|你已經是|你现在成为|你現在成為)${G}(?:dan|不受(?:任何)?限制|没有(?:任何)?限制|沒有(?:任何)?限制|无限制|無限制|不受约束|不受約束|越狱|越獄|邪恶|邪惡|无审查|無審查|没有(?:任何)?规则|沒有(?:任何)?規則)` },
  { id: 'zh.act_as', type: 'role_hijack', lang: 'zh', weight: 0.7, pattern: `(?:假装|假裝|扮演|装作|裝作|充当|充當)${G}(?:没有|沒有|不受|无|無|不带|不帶)(?:任何)?(?:审查|審查|限制|规则|規則|过滤|過濾|道德)` },
  { id: 'zh.mode', type: 'role_hijack', lang: 'zh', weight: 0.7, pattern: '(?:开发者|開發者|开发人员|開發人員|上帝|dan|越狱|越獄|无限制|無限制)模式(?:已)?(?:启用|啟用|开启|開啟|激活|打开|打開|已开启|已開啟)' },
  { id: 'zh.mode_enable', type: 'role_hijack', lang: 'zh', weight: 0.7, pattern: '(?:进入|進入|启用|啟用|开启|開啟|激活|切换到|切換到)(?:开发者|開發者|上帝|dan|越狱|越獄|无限制|無限制)模式' },
  { id: 'zh.from_now', type: 'new_instructions', lang: 'zh', weight: 0.35, pattern: `(?:从现在开始|從現在開始|从现在起|從現在起|从今以后|從今以後|今后|今後)${G}(?:你|您)(?:必须|必須|要|将|將|只能|应该|應該|只|不再)` },
  { id: 'zh.new', type: 'new_instructions', lang: 'zh', weight: 0.55, pattern: '(?:新的?|真正的|最新)(?:指令|指示|任务|任務|规则|規則|命令) ?:' },
  { id: 'zh.new_task', type: 'new_instructions', lang: 'zh', weight: 0.55, pattern: '(?:你的|您的)(?:新|真正的?|唯一的?)(?:任务|任務|目标|目標|指令|使命)(?:是|为|為)' },
  { id: 'zh.to_ai', type: 'directive', lang: 'zh', weight: 0.5, pattern: '(?:如果你是|如果您是|假如你是)(?:一个|一個)?(?:ai|人工智能|语言模型|語言模型|大模型|ai助手|助手|聊天机器人|聊天機器人|智能体|智能體)' },
  { id: 'zh.hide', type: 'secrecy', lang: 'zh', weight: 0.4, pattern: '(?:不要|别|別|切勿|无需|無需)(?:告诉|告訴|通知|提醒|让|讓)(?:用户|用戶|使用者)' },
  { id: 'zh.system', type: 'fake_system', lang: 'zh', weight: 0.55, pattern: '(?:这是|這是|来自|來自)(?:一条|一條)?(?:系统|系統|管理员|管理員|开发者|開發者)(?:消息|訊息|通知|指令|的消息|的指令)' },
  { id: 'zh.exfil', type: 'exfiltration', lang: 'zh', weight: 0.7, pattern: `(?:发送|發送|发给|發給|发到|發到|上传|上傳|转发|轉發|传送|傳送|提交|泄露|洩露|寄给|寄給)${G}${SENSITIVE}${G}(?:到|至|给|給)${G}${DEST}` },
  { id: 'zh.exfil_ba', type: 'exfiltration', lang: 'zh', weight: 0.7, pattern: `(?:把|将|將)${G}${SENSITIVE}${G}(?:发送|發送|发|發|上传|上傳|转发|轉發|传送|傳送|提交|寄)(?:到|至|给|給)${G}${DEST}` },
  { id: 'zh.exfil_generic', type: 'exfil_request', lang: 'zh', weight: 0.45, pattern: `(?:把|将|將)${G}(?:内容|內容|数据|數據|资料|資料|信息|資訊|结果|結果)${G}(?:发送|發送|发|發|上传|上傳|转发|轉發|传送|傳送)(?:到|至|给|給)${G}(?:https?:|www|[a-z0-9]{1,30}@)` },
];
