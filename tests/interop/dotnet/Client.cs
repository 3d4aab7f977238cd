// The whole flow of tests/interop/README.md with a proxy that Mono's `wsdl` generated from the
// WSDL a live node serves (tests/interop/dotnet/BUILD.md), compiled with `mcs`, run with `mono`.
//
// The same Client.cs is compiled twice: against the SOAP 1.1 proxy (`wsdl`) and against the
// SOAP 1.2 proxy (`wsdl /protocol:SOAP12`). Both generated files use the namespace Ecms.Agency,
// so nothing here depends on the protocol: the generated ECMSAgencyService sets its SoapVersion.
// `--soap12` says which of the two programs is expected; a mismatch is an error.
//
// Prints one JSON line on stdout and exits 0; on an unexpected error prints it on stderr, exits 1.
using System;
using System.Collections;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Web.Services.Protocols;
using System.Xml;
using Ecms.Agency;

public static class Client
{
    const string UnknownReceiver = "9999999999";

    // BEGIN connect.md
    // ECMSAgencyService and every type below are generated from the node's ?wsdl URL (BUILD.md):
    //   wsdl /namespace:Ecms.Agency /out:Agency.cs "http://HOST:PORT/ecms-ws01/service2/ORG?wsdl"
    static CorrespondenceLetterType Letter(string letterId, string date, string subject,
                                           string sender, string receiver, byte[] pdf)
    {
        CorrespondenceLetterType letter = new CorrespondenceLetterType();
        letter.ID = letterId;                      // เลขที่หนังสือ
        letter.CorrespondenceDate = date;          // yyyy-MM-dd
        letter.Subject = subject;
        letter.SecretCode = "001";
        letter.SpeedCode = "001";
        letter.SenderParty = Party("สมชาย", sender);
        letter.ReceiverParty = Party("สมหญิง", receiver);
        letter.MainLetterBinaryObject = new BinaryObjectType();
        letter.MainLetterBinaryObject.mimeCode = "pdf";
        letter.MainLetterBinaryObject.Value = pdf; // sent as base64Binary
        return letter;                             // unsigned: the node signs it for the sender
    }

    static PartyType Party(string givenName, string organizationId)
    {
        PartyType party = new PartyType();
        party.GivenName = givenName;
        party.MinistryOrganization = new OrganizationType();
        party.MinistryOrganization.ID = organizationId.Substring(0, 2);
        party.DepartmentOrganization = new OrganizationType();
        party.DepartmentOrganization.ID = organizationId;
        return party;
    }

    // Sends one letter from the organisation whose endpoint (its ECMS-URL) is `endpoint`.
    static Sent Send(string endpoint, CorrespondenceLetterType letter)
    {
        ECMSAgencyService agency = new ECMSAgencyService();
        agency.Url = endpoint;
        CorrespondenceLetterOutboundRequest request = new CorrespondenceLetterOutboundRequest();
        GovernmentDocumentType document = new GovernmentDocumentType();
        document.CorrespondenceLetter = letter;
        request.Item = document;
        request.ItemElementName = ItemChoiceType.GovernmentDocument;
        Sent sent = new Sent();
        try
        {
            CorrespondenceLetterOutboundResponse response = agency.CorrespondenceLetterOutbound(request);
            sent.ProcessID = response.ProcessID;
            sent.ProcessTime = response.ProcessTime;
        }
        catch (SoapException fault)                // the node refused it: ErrorDetail in the fault's detail
        {
            XmlNamespaceManager ns = new XmlNamespaceManager(new NameTable());
            ns.AddNamespace("agency", "urn:th:gov:egif:ecms:agency:1");
            XmlNode error = fault.Detail.SelectSingleNode("agency:ErrorDetail", ns);
            sent.ErrorCode = error.SelectSingleNode("agency:ErrorCode", ns).InnerText;        // e.g. 2001
            sent.ErrorDescription = error.SelectSingleNode("agency:ErrorDescription", ns).InnerText;
            sent.Fault = fault;
        }
        return sent;
    }

    class Sent
    {
        public string ProcessID, ProcessTime, ErrorCode, ErrorDescription;
        public SoapException Fault;
    }
    // END connect.md

    static int Main(string[] args)
    {
        Console.OutputEncoding = new UTF8Encoding(false);
        try
        {
            Console.WriteLine(Json.Write(Run(Options.Parse(args))));
            return 0;
        }
        catch (Exception e)
        {
            Console.Error.WriteLine(e);
            return 1;
        }
    }

    static Json.Obj Run(Options o)
    {
        bool soap12 = new ECMSAgencyService().SoapVersion == SoapProtocolVersion.Soap12;
        if (soap12 != o.Soap12)
            throw new ArgumentException("this program was built with the SOAP " + (soap12 ? "1.2" : "1.1") +
                                        " proxy; run the one built for SOAP " + (o.Soap12 ? "1.2" : "1.1"));
        byte[] pdf = File.ReadAllBytes(o.Pdf);
        EmptyType empty = new EmptyType();
        Json.Obj result = new Json.Obj();
        result.Add("stack", "mono-wsdl");
        result.Add("stackVersion", MonoVersion());
        result.Add("soapVersion", soap12 ? "1.2" : "1.1");
        result.Add("proxy", typeof(ECMSAgencyService).FullName);

        // 1. The directory, at the endpoint that served the WSDL.
        int query = o.Wsdl.IndexOf('?');
        ECMSAgencyService directory = At(query < 0 ? o.Wsdl : o.Wsdl.Substring(0, query));
        List<object> organizations = new List<object>();
        string senderUrl = null, receiverUrl = null;
        foreach (OrganizationListOrganizationInfo info in directory.GetOrganizationList(empty))
        {
            organizations.Add(info.OrganizationID);
            if (info.OrganizationID == o.Sender) senderUrl = info.ECMSURL;
            if (info.OrganizationID == o.Receiver) receiverUrl = info.ECMSURL;
        }
        if (senderUrl == null || receiverUrl == null)
            throw new InvalidOperationException("GetOrganizationList lists no ECMS-URL for " + o.Sender + " or " + o.Receiver);
        result.Add("organizations", organizations);
        result.Add("endpoints", new Json.Obj { { "sender", senderUrl }, { "receiver", receiverUrl } });
        ECMSAgencyService sender = At(senderUrl), receiver = At(receiverUrl);

        // 2. Code lists and the clock, at the sender's endpoint.
        result.Add("secretCodes", Codes(sender.GetSecretCodes(empty)));
        result.Add("speedCodes", Codes(sender.GetSpeedCodes(empty)));
        List<object> mimeCodes = new List<object>();
        foreach (MimeCodesCode code in sender.GetMimeCodes(empty)) mimeCodes.Add(code.FileExtension);
        result.Add("mimeCodes", mimeCodes);
        result.Add("ministries", sender.GetMinistryOrganizationList(empty).Length);
        result.Add("time", sender.TimeCheck(empty));

        // 3. The letter, to the receiver.
        Sent sent = Send(senderUrl, Letter(o.LetterId, o.Date, o.Subject, o.Sender, o.Receiver, pdf));
        if (sent.Fault != null)
            throw new InvalidOperationException("the letter was refused: " + sent.ErrorCode + " " + sent.ErrorDescription, sent.Fault);
        result.Add("sent", new Json.Obj { { "ProcessID", sent.ProcessID }, { "ProcessTime", sent.ProcessTime } });

        // 4. The same letter to an unknown receiver: a SoapException whose Detail holds ErrorDetail.
        Sent refused = Send(senderUrl, Letter(o.LetterId, o.Date, o.Subject, o.Sender, UnknownReceiver, pdf));
        if (refused.Fault == null)
            throw new InvalidOperationException("the node accepted a letter to " + UnknownReceiver + ": " + refused.ProcessID);
        result.Add("unknownReceiver", new Json.Obj {
            { "mechanism", "SoapException.Detail" },
            { "exception", refused.Fault.GetType().FullName },
            { "faultCode", refused.Fault.Code.ToString() },
            { "subCode", refused.Fault.SubCode != null && refused.Fault.SubCode.Code != null ? refused.Fault.SubCode.Code.ToString() : "" },
            { "message", refused.Fault.Message },
            { "ErrorCode", refused.ErrorCode },
            { "ErrorDescription", refused.ErrorDescription } });

        // 5. The receiver pulls the letter, deletes it, and finds its queue empty.
        CorrespondenceLetterInboundResponse inbound = receiver.CorrespondenceLetterInbound(empty);
        GovernmentDocumentType document = inbound.Item as GovernmentDocumentType;
        if (document == null || inbound.ItemElementName != ItemChoiceType2.GovernmentDocument)
            throw new InvalidOperationException("the receiver pulled no letter but " + Describe(inbound));
        CorrespondenceLetterType letter = document.CorrespondenceLetter;
        byte[] main = letter.MainLetterBinaryObject.Value;
        result.Add("pulled", new Json.Obj {
            { "ProcessID", inbound.ProcessID },
            { "LetterID", letter.ID },
            { "CorrespondenceDate", letter.CorrespondenceDate },
            { "Subject", letter.Subject },
            { "Sender", letter.SenderParty.DepartmentOrganization.ID },
            { "Receiver", letter.ReceiverParty.DepartmentOrganization.ID },
            { "MainLetterMimeCode", letter.MainLetterBinaryObject.mimeCode },
            { "MainLetterSha256", Sha256(main) },
            { "MainLetterSize", main.Length } });
        CorrespondenceLetterDeleteResponse deleted = receiver.CorrespondenceLetterDelete(Delete(inbound.ProcessID));
        result.Add("deleted", new Json.Obj { { "ProcessID", deleted.ProcessID }, { "ProcessTime", deleted.ProcessTime } });
        CorrespondenceLetterInboundResponse again = receiver.CorrespondenceLetterInbound(empty);
        result.Add("emptyAfterDelete", again == null || (again.ProcessID == null && again.Item == null));

        // 6. The receiver's notifiers.
        LetterNotifierType received = new LetterNotifierType();
        received.LetterID = o.LetterId;
        received.CorrespondenceDate = o.Date;
        received.Subject = o.Subject;
        result.Add("receiveNotifier", new Json.Obj {
            { "ProcessID", receiver.CorrespondenceLetterOutbound(Outbound(received, ItemChoiceType.ReceiveLetterNotifier)).ProcessID } });
        AcceptIDNotifierType accepted = new AcceptIDNotifierType();
        accepted.LetterID = o.LetterId;
        accepted.AcceptID = o.AcceptId;
        accepted.CorrespondenceDate = o.Date;
        accepted.Subject = o.Subject;
        result.Add("acceptNotifier", new Json.Obj {
            { "ProcessID", receiver.CorrespondenceLetterOutbound(Outbound(accepted, ItemChoiceType.AcceptLetterNotifier)).ProcessID } });

        // 7. The sender pulls and deletes both notifiers, then reads its outbound status.
        List<object> senderPulled = new List<object>();
        for (int i = 0; i < 2; i++)
        {
            CorrespondenceLetterInboundResponse item = sender.CorrespondenceLetterInbound(empty);
            string letterId, acceptId = "";
            if (item.Item is AcceptIDNotifierType)
            {
                letterId = ((AcceptIDNotifierType)item.Item).LetterID;
                acceptId = ((AcceptIDNotifierType)item.Item).AcceptID ?? "";
            }
            else if (item.Item is LetterNotifierType)
                letterId = ((LetterNotifierType)item.Item).LetterID;
            else
                throw new InvalidOperationException("the sender pulled no notifier but " + Describe(item));
            senderPulled.Add(new Json.Obj {
                { "kind", item.ItemElementName.ToString() }, { "ProcessID", item.ProcessID },
                { "LetterID", letterId }, { "AcceptID", acceptId } });
            sender.CorrespondenceLetterDelete(Delete(item.ProcessID));
        }
        result.Add("senderPulled", senderPulled);
        foreach (OutboundStatusResponseOutbound status in sender.OutboundStatus(empty))
        {
            if (status.ProcessID != sent.ProcessID) continue;
            result.Add("status", new Json.Obj {
                { "ProcessID", status.ProcessID }, { "LetterID", status.LetterID },
                { "ProcessStatus", status.ProcessStatus.ToString() }, { "AcceptID", status.AcceptID ?? "" } });
        }
        if (!result.Has("status"))
            throw new InvalidOperationException("OutboundStatus does not list " + sent.ProcessID);
        return result;
    }

    static ECMSAgencyService At(string endpoint)
    {
        ECMSAgencyService agency = new ECMSAgencyService();
        agency.Url = endpoint;
        agency.Timeout = 30000;
        return agency;
    }

    static CorrespondenceLetterOutboundRequest Outbound(object notifier, ItemChoiceType kind)
    {
        CorrespondenceLetterOutboundRequest request = new CorrespondenceLetterOutboundRequest();
        request.Item = notifier;
        request.ItemElementName = kind;
        return request;
    }

    static CorrespondenceLetterDeleteRequest Delete(string processId)
    {
        CorrespondenceLetterDeleteRequest request = new CorrespondenceLetterDeleteRequest();
        request.ProcessID = processId;
        return request;
    }

    static Json.Obj Codes(CodeListTypeCode[] codes)
    {
        Json.Obj map = new Json.Obj();
        foreach (CodeListTypeCode code in codes) map.Add(code.Value, code.Description);
        return map;
    }

    static string Describe(CorrespondenceLetterInboundResponse item)
    {
        return item == null || item.Item == null ? "an empty queue" : item.ItemElementName + " " + item.ProcessID;
    }

    static string Sha256(byte[] bytes)
    {
        StringBuilder hex = new StringBuilder();
        using (SHA256 sha = SHA256.Create())
            foreach (byte b in sha.ComputeHash(bytes)) hex.Append(b.ToString("x2"));
        return hex.ToString();
    }

    static string MonoVersion()
    {
        Type runtime = Type.GetType("Mono.Runtime");
        MethodInfo name = runtime == null ? null
            : runtime.GetMethod("GetDisplayName", BindingFlags.NonPublic | BindingFlags.Static);
        return name == null ? Environment.Version.ToString() : (string)name.Invoke(null, null);
    }

    class Options
    {
        public string Wsdl, Sender, Receiver, LetterId, Subject, Date, Pdf, AcceptId;
        public bool Soap12;

        public static Options Parse(string[] args)
        {
            Options o = new Options();
            for (int i = 0; i < args.Length; i++)
            {
                string name = args[i];
                if (name == "--soap12") { o.Soap12 = true; continue; }
                if (i + 1 >= args.Length) throw new ArgumentException(name + " needs a value");
                string value = args[++i];
                switch (name)
                {
                    case "--wsdl": o.Wsdl = value; break;
                    case "--sender": o.Sender = value; break;
                    case "--receiver": o.Receiver = value; break;
                    case "--letter-id": o.LetterId = value; break;
                    case "--subject": o.Subject = value; break;
                    case "--date": o.Date = value; break;
                    case "--pdf": o.Pdf = value; break;
                    case "--accept-id": o.AcceptId = value; break;
                    default: throw new ArgumentException("unknown option " + name);
                }
            }
            if (o.Wsdl == null || o.Sender == null || o.Receiver == null || o.LetterId == null || o.Subject == null
                || o.Date == null || o.Pdf == null || o.AcceptId == null)
                throw new ArgumentException("usage: --wsdl URL --sender ORG --receiver ORG --letter-id TEXT --subject TEXT "
                                            + "--date yyyy-MM-dd --pdf FILE --accept-id TEXT [--soap12]");
            return o;
        }
    }
}

// A JSON writer: objects keep their keys' order; strings are escaped per RFC 8259.
static class Json
{
    public class Obj : IEnumerable
    {
        readonly List<KeyValuePair<string, object>> members = new List<KeyValuePair<string, object>>();

        public void Add(string key, object value) { members.Add(new KeyValuePair<string, object>(key, value)); }

        public bool Has(string key)
        {
            foreach (KeyValuePair<string, object> member in members) if (member.Key == key) return true;
            return false;
        }

        public IEnumerator GetEnumerator() { return members.GetEnumerator(); }
    }

    public static string Write(object value)
    {
        StringBuilder text = new StringBuilder();
        Append(text, value);
        return text.ToString();
    }

    static void Append(StringBuilder text, object value)
    {
        if (value == null) text.Append("null");
        else if (value is string) AppendString(text, (string)value);
        else if (value is bool) text.Append((bool)value ? "true" : "false");
        else if (value is int || value is long) text.Append(Convert.ToString(value, CultureInfo.InvariantCulture));
        else if (value is Obj)
        {
            text.Append('{');
            bool first = true;
            foreach (KeyValuePair<string, object> member in (Obj)value)
            {
                if (!first) text.Append(',');
                first = false;
                AppendString(text, member.Key);
                text.Append(':');
                Append(text, member.Value);
            }
            text.Append('}');
        }
        else if (value is IEnumerable)
        {
            text.Append('[');
            bool first = true;
            foreach (object item in (IEnumerable)value)
            {
                if (!first) text.Append(',');
                first = false;
                Append(text, item);
            }
            text.Append(']');
        }
        else throw new ArgumentException("no JSON for " + value.GetType());
    }

    static void AppendString(StringBuilder text, string s)
    {
        text.Append('"');
        foreach (char c in s)
        {
            switch (c)
            {
                case '"': text.Append("\\\""); break;
                case '\\': text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                default:
                    // Control characters, and U+2028/U+2029 for JavaScript readers; the rest as UTF-8.
                    if (c < 0x20 || c == '\u2028' || c == '\u2029') text.Append("\\u").Append(((int)c).ToString("x4"));
                    else text.Append(c);
                    break;
            }
        }
        text.Append('"');
    }
}
