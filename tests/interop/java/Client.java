// The interop flow (tests/interop/README.md) with the JAX-WS RI client that `wsimport` generates
// from the WSDL a live node serves. Only this file is written by hand; every type it uses from
// th.gov.egif.* is generated (see BUILD.md). It prints one JSON line on stdout, or the error on
// stderr and exits 1.

import java.io.FileOutputStream;
import java.io.FileDescriptor;
import java.io.PrintStream;
import java.net.MalformedURLException;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

import javax.xml.namespace.QName;
import javax.xml.soap.SOAPFault;
import javax.xml.ws.BindingProvider;
import javax.xml.ws.handler.Handler;
import javax.xml.ws.handler.MessageContext;
import javax.xml.ws.handler.soap.SOAPHandler;
import javax.xml.ws.handler.soap.SOAPMessageContext;

import th.gov.egif.data.standard.governmentdocument._1.GovernmentDocumentType;
import th.gov.egif.data.standard.reusableaggregatebusinessinformationentity._1.BinaryObjectType;
import th.gov.egif.data.standard.reusableaggregatebusinessinformationentity._1.CorrespondenceLetterType;
import th.gov.egif.data.standard.reusableaggregatebusinessinformationentity._1.OrganizationType;
import th.gov.egif.data.standard.reusableaggregatebusinessinformationentity._1.PartyType;
import th.gov.egif.ecms.agency._1.AcceptIDNotifierType;
import th.gov.egif.ecms.agency._1.CodeListType;
import th.gov.egif.ecms.agency._1.CorrespondenceLetterDeleteRequest;
import th.gov.egif.ecms.agency._1.CorrespondenceLetterDeleteResponse;
import th.gov.egif.ecms.agency._1.CorrespondenceLetterInboundResponse;
import th.gov.egif.ecms.agency._1.CorrespondenceLetterOutboundRequest;
import th.gov.egif.ecms.agency._1.CorrespondenceLetterOutboundResponse;
import th.gov.egif.ecms.agency._1.EmptyType;
import th.gov.egif.ecms.agency._1.LetterNotifierType;
import th.gov.egif.ecms.agency._1.MimeCodes;
import th.gov.egif.ecms.agency._1.OrganizationList;
import th.gov.egif.ecms.agency._1.OutboundStatusResponse;
import th.gov.egif.ecms.agency.wsdl.ECMSAgencyPortType;
import th.gov.egif.ecms.agency.wsdl.ECMSAgencyService;
import th.gov.egif.ecms.agency._1.ErrorDetail;
import th.gov.egif.ecms.agency.wsdl.ErrorDetailFault;

public final class Client {

    static final String STACK = "jaxws-wsimport";
    static final String UNKNOWN_RECEIVER = "9999999999";

    // BEGIN connect.md
    // wsimport, run on the node's ?wsdl (commands in BUILD.md), generates ECMSAgencyService, ECMSAgencyPortType,
    // the fault exception th.gov.egif.ecms.agency.wsdl.ErrorDetailFault and the JAXB types used here.
    // import javax.xml.ws.BindingProvider; import th.gov.egif.ecms.agency.wsdl.*;
    // import th.gov.egif.ecms.agency._1.CorrespondenceLetterOutboundRequest, ...OutboundResponse;
    // import th.gov.egif.data.standard.governmentdocument._1.GovernmentDocumentType;

    /** The generated service, from the WSDL the node serves (read once, at run time). */
    static ECMSAgencyService open(String wsdlUrl) throws MalformedURLException {
        return new ECMSAgencyService(new URL(wsdlUrl));
    }

    /** The client of one organisation: the WSDL's SOAP 1.1 or SOAP 1.2 port, at that organisation's endpoint. */
    static ECMSAgencyPortType connect(ECMSAgencyService service, String endpoint, boolean soap12) {
        ECMSAgencyPortType port = soap12 ? service.getECMSAgencySoap12() : service.getECMSAgencySoap11();
        ((BindingProvider) port).getRequestContext().put(BindingProvider.ENDPOINT_ADDRESS_PROPERTY, endpoint);
        return port;
    }

    /** Send one letter: its ProcessID and ProcessTime, or the ErrorCode and ErrorDescription of the node's fault. */
    static Map<String, Object> send(ECMSAgencyPortType port, GovernmentDocumentType letter) {
        CorrespondenceLetterOutboundRequest request = new CorrespondenceLetterOutboundRequest();
        request.setGovernmentDocument(letter);
        Map<String, Object> result = new LinkedHashMap<>();
        try {
            CorrespondenceLetterOutboundResponse sent = port.correspondenceLetterOutbound(request);
            result.put("ProcessID", sent.getProcessID());
            result.put("ProcessTime", sent.getProcessTime());
        } catch (ErrorDetailFault fault) {  // the wsdl:fault "ErrorDetail", thrown as the generated exception
            ErrorDetail detail = fault.getFaultInfo();
            result.put("ErrorCode", detail.getErrorCode());  // e.g. 2001: unknown receiver
            result.put("ErrorDescription", detail.getErrorDescription());
        }
        return result;
    }
    // END connect.md

    /** A rsm:GovernmentDocument built with the generated types; sent unsigned (the node signs it). */
    static GovernmentDocumentType letter(String letterId, String date, String subject, String sender, String receiver,
                                         byte[] pdf) {
        CorrespondenceLetterType letter = new CorrespondenceLetterType();
        letter.setID(letterId);
        letter.setCorrespondenceDate(date);
        letter.setSubject(subject);
        letter.setSecretCode("001");
        letter.setSpeedCode("001");
        letter.setSenderParty(party("สมชาย", sender));
        letter.setReceiverParty(party("สมหญิง", receiver));
        BinaryObjectType main = new BinaryObjectType();
        main.setValue(pdf);  // xs:base64Binary: JAXB encodes the raw bytes
        main.setMimeCode("pdf");
        letter.setMainLetterBinaryObject(main);
        GovernmentDocumentType document = new GovernmentDocumentType();
        document.setCorrespondenceLetter(letter);
        return document;
    }

    static PartyType party(String givenName, String org) {
        PartyType party = new PartyType();
        party.setGivenName(givenName);
        OrganizationType ministry = new OrganizationType();
        ministry.setID(org.substring(0, 2));
        party.setMinistryOrganization(ministry);
        OrganizationType department = new OrganizationType();
        department.setID(org);
        party.setDepartmentOrganization(department);
        return party;
    }

    /** Keeps the fault code of the SOAP fault the port receives (the generated exception carries only the detail). */
    static final class FaultCodeRecorder implements SOAPHandler<SOAPMessageContext> {
        String faultCode = "";

        @Override public Set<QName> getHeaders() { return Collections.emptySet(); }
        @Override public boolean handleMessage(SOAPMessageContext context) { return true; }
        @Override public void close(MessageContext context) { }

        @Override public boolean handleFault(SOAPMessageContext context) {
            try {
                SOAPFault fault = context.getMessage().getSOAPBody().getFault();
                QName code = fault.getFaultCodeAsQName();
                faultCode = code.getPrefix().isEmpty() ? code.getLocalPart() : code.getPrefix() + ":" + code.getLocalPart();
            } catch (Exception e) {
                faultCode = "?";
            }
            return true;
        }
    }

    static Map<String, Object> run(Map<String, String> args) throws Exception {
        String wsdlUrl = args.get("wsdl");
        String senderOrg = args.get("sender"), receiverOrg = args.get("receiver");
        boolean soap12 = args.containsKey("soap12");
        byte[] pdf = Files.readAllBytes(Paths.get(args.get("pdf")));
        EmptyType empty = new EmptyType();
        Map<String, Object> out = new LinkedHashMap<>();
        out.put("stack", STACK);
        out.put("stackVersion", "JAX-WS RI " + com.sun.xml.ws.util.RuntimeVersion.VERSION.BUILD_ID
                + " (JAXB RI " + jaxbVersion() + ") on Java " + System.getProperty("java.version"));
        out.put("soapVersion", soap12 ? "1.2" : "1.1");

        // 1. The directory, at the endpoint the WSDL came from.
        ECMSAgencyService service = open(wsdlUrl);
        ECMSAgencyPortType directory = connect(service, wsdlUrl.split("\\?", 2)[0], soap12);
        List<String> organizations = new ArrayList<>();
        Map<String, String> urls = new HashMap<>();
        for (OrganizationList.OrganizationInfo info : directory.getOrganizationList()) {
            organizations.add(info.getOrganizationID());
            urls.put(info.getOrganizationID(), info.getECMSURL());
        }
        out.put("organizations", organizations);
        String senderUrl = require(urls, senderOrg), receiverUrl = require(urls, receiverOrg);
        out.put("endpoints", obj("sender", senderUrl, "receiver", receiverUrl));
        ECMSAgencyPortType sender = connect(service, senderUrl, soap12);
        ECMSAgencyPortType receiver = connect(service, receiverUrl, soap12);

        // 2. Code lists and the time, at the sender's endpoint.
        out.put("secretCodes", codes(sender.getSecretCodes()));
        out.put("speedCodes", codes(sender.getSpeedCodes()));
        List<String> mimeCodes = new ArrayList<>();
        for (MimeCodes.Code code : sender.getMimeCodes()) mimeCodes.add(code.getFileExtension());
        out.put("mimeCodes", mimeCodes);
        out.put("ministries", sender.getMinistryOrganizationList().size());
        out.put("time", sender.timeCheck(empty));

        // 3. The letter, to the receiver.
        String letterId = args.get("letter-id"), date = args.get("date"), subject = args.get("subject");
        Map<String, Object> sent = send(sender, letter(letterId, date, subject, senderOrg, receiverOrg, pdf));
        if (!sent.containsKey("ProcessID")) throw new IllegalStateException("the letter was refused: " + sent);
        out.put("sent", sent);

        // 4. The same letter to an unknown receiver: the typed fault.
        FaultCodeRecorder recorder = new FaultCodeRecorder();
        List<Handler> chain = new ArrayList<>();
        chain.add(recorder);
        ((BindingProvider) sender).getBinding().setHandlerChain(chain);
        Map<String, Object> refused = send(sender, letter(letterId, date, subject, senderOrg, UNKNOWN_RECEIVER, pdf));
        ((BindingProvider) sender).getBinding().setHandlerChain(new ArrayList<Handler>());
        if (!refused.containsKey("ErrorCode")) throw new IllegalStateException("no fault for the unknown receiver: " + refused);
        Map<String, Object> unknown = obj("mechanism", ErrorDetailFault.class.getName() + ".getFaultInfo()",
                                          "faultCode", recorder.faultCode);
        unknown.putAll(refused);
        out.put("unknownReceiver", unknown);

        // 5. Pull, delete, and the queue is empty, at the receiver's endpoint.
        CorrespondenceLetterInboundResponse inbound = receiver.correspondenceLetterInbound(empty);
        GovernmentDocumentType document = inbound.getGovernmentDocument();
        if (document == null) throw new IllegalStateException("the receiver's queue holds no letter");
        CorrespondenceLetterType pulledLetter = document.getCorrespondenceLetter();
        byte[] main = pulledLetter.getMainLetterBinaryObject().getValue();
        out.put("pulled", obj("ProcessID", inbound.getProcessID(),
                              "LetterID", pulledLetter.getID(),
                              "CorrespondenceDate", pulledLetter.getCorrespondenceDate(),
                              "Subject", pulledLetter.getSubject(),
                              "Sender", pulledLetter.getSenderParty().getDepartmentOrganization().getID(),
                              "Receiver", pulledLetter.getReceiverParty().getDepartmentOrganization().getID(),
                              "MainLetterMimeCode", pulledLetter.getMainLetterBinaryObject().getMimeCode(),
                              "MainLetterSha256", sha256(main),
                              "MainLetterSize", main.length));
        CorrespondenceLetterDeleteRequest delete = new CorrespondenceLetterDeleteRequest();
        delete.setProcessID(inbound.getProcessID());
        CorrespondenceLetterDeleteResponse deleted = receiver.correspondenceLetterDelete(delete);
        out.put("deleted", obj("ProcessID", deleted.getProcessID(), "ProcessTime", deleted.getProcessTime()));
        CorrespondenceLetterInboundResponse after = receiver.correspondenceLetterInbound(empty);
        out.put("emptyAfterDelete", after.getProcessID() == null && after.getGovernmentDocument() == null
                && after.getReceiveLetterNotifier() == null && after.getAcceptLetterNotifier() == null);

        // 6. The receiver's notifiers.
        LetterNotifierType received = new LetterNotifierType();
        received.setLetterID(letterId);
        received.setCorrespondenceDate(date);
        received.setSubject(subject);
        CorrespondenceLetterOutboundRequest receiveNotifier = new CorrespondenceLetterOutboundRequest();
        receiveNotifier.setReceiveLetterNotifier(received);
        out.put("receiveNotifier", obj("ProcessID", receiver.correspondenceLetterOutbound(receiveNotifier).getProcessID()));
        AcceptIDNotifierType accepted = new AcceptIDNotifierType();
        accepted.setLetterID(letterId);
        accepted.setAcceptID(args.get("accept-id"));
        accepted.setCorrespondenceDate(date);
        accepted.setSubject(subject);
        CorrespondenceLetterOutboundRequest acceptNotifier = new CorrespondenceLetterOutboundRequest();
        acceptNotifier.setAcceptLetterNotifier(accepted);
        out.put("acceptNotifier", obj("ProcessID", receiver.correspondenceLetterOutbound(acceptNotifier).getProcessID()));

        // 7. The sender pulls and deletes both notifiers, then asks for its letters' status.
        List<Object> senderPulled = new ArrayList<>();
        for (int i = 0; i < 2; i++) {
            CorrespondenceLetterInboundResponse item = sender.correspondenceLetterInbound(empty);
            if (item.getReceiveLetterNotifier() != null) {
                senderPulled.add(obj("kind", "ReceiveLetterNotifier", "ProcessID", item.getProcessID(),
                                     "LetterID", item.getReceiveLetterNotifier().getLetterID(), "AcceptID", ""));
            } else if (item.getAcceptLetterNotifier() != null) {
                senderPulled.add(obj("kind", "AcceptLetterNotifier", "ProcessID", item.getProcessID(),
                                     "LetterID", item.getAcceptLetterNotifier().getLetterID(),
                                     "AcceptID", item.getAcceptLetterNotifier().getAcceptID()));
            } else {
                throw new IllegalStateException("the sender's queue item " + (i + 1) + " is not a notifier");
            }
            CorrespondenceLetterDeleteRequest done = new CorrespondenceLetterDeleteRequest();
            done.setProcessID(item.getProcessID());
            sender.correspondenceLetterDelete(done);
        }
        out.put("senderPulled", senderPulled);
        Map<String, Object> status = null;
        for (OutboundStatusResponse.Outbound entry : sender.outboundStatus(empty).getOutbound()) {
            if (entry.getProcessID().equals(sent.get("ProcessID"))) {
                status = obj("ProcessID", entry.getProcessID(), "LetterID", entry.getLetterID(),
                             "ProcessStatus", entry.getProcessStatus().value(),
                             "AcceptID", entry.getAcceptID() == null ? "" : entry.getAcceptID());
            }
        }
        if (status == null) throw new IllegalStateException("OutboundStatus does not list " + sent.get("ProcessID"));
        out.put("status", status);
        return out;
    }

    static String require(Map<String, String> urls, String org) {
        String url = urls.get(org);
        if (url == null) throw new IllegalArgumentException("GetOrganizationList does not list " + org);
        return url;
    }

    static Map<String, Object> codes(List<CodeListType.Code> list) {
        Map<String, Object> codes = new LinkedHashMap<>();
        for (CodeListType.Code code : list) codes.put(code.getValue(), code.getDescription());
        return codes;
    }

    static String jaxbVersion() {
        Package p = com.sun.xml.bind.v2.ContextFactory.class.getPackage();
        String v = p == null ? null : p.getImplementationVersion();
        return v == null ? "?" : v;
    }

    static String sha256(byte[] bytes) throws Exception {
        StringBuilder hex = new StringBuilder();
        for (byte b : MessageDigest.getInstance("SHA-256").digest(bytes)) hex.append(String.format("%02x", b & 0xff));
        return hex.toString();
    }

    static Map<String, Object> obj(Object... keysAndValues) {
        Map<String, Object> map = new LinkedHashMap<>();
        for (int i = 0; i < keysAndValues.length; i += 2) map.put((String) keysAndValues[i], keysAndValues[i + 1]);
        return map;
    }

    // ---------------------------------------------------------------- JSON, written by hand (no libraries)

    static void json(StringBuilder sb, Object value) {
        if (value == null) {
            sb.append("null");
        } else if (value instanceof String) {
            string(sb, (String) value);
        } else if (value instanceof Number || value instanceof Boolean) {
            sb.append(value);
        } else if (value instanceof Map) {
            sb.append('{');
            String sep = "";
            for (Map.Entry<?, ?> e : ((Map<?, ?>) value).entrySet()) {
                sb.append(sep);
                string(sb, (String) e.getKey());
                sb.append(':');
                json(sb, e.getValue());
                sep = ",";
            }
            sb.append('}');
        } else if (value instanceof List) {
            sb.append('[');
            String sep = "";
            for (Object item : (List<?>) value) {
                sb.append(sep);
                json(sb, item);
                sep = ",";
            }
            sb.append(']');
        } else {
            throw new IllegalArgumentException("not JSON: " + value.getClass());
        }
    }

    /** A JSON string: quotes, backslashes and control characters escaped; Thai and all other text as is (UTF-8). */
    static void string(StringBuilder sb, String s) {
        sb.append('"');
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"': sb.append("\\\""); break;
                case '\\': sb.append("\\\\"); break;
                case '\n': sb.append("\\n"); break;
                case '\r': sb.append("\\r"); break;
                case '\t': sb.append("\\t"); break;
                case '\b': sb.append("\\b"); break;
                case '\f': sb.append("\\f"); break;
                default:
                    boolean lone = Character.isHighSurrogate(c)
                            ? !(i + 1 < s.length() && Character.isLowSurrogate(s.charAt(i + 1)))
                            : Character.isLowSurrogate(c) && !(i > 0 && Character.isHighSurrogate(s.charAt(i - 1)));
                    if (c < 0x20 || c == '\u2028' || c == '\u2029' || lone) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
            }
        }
        sb.append('"');
    }

    static Map<String, String> parse(String[] argv) {
        Map<String, String> args = new HashMap<>();
        for (int i = 0; i < argv.length; i++) {
            if (!argv[i].startsWith("--")) throw new IllegalArgumentException("unexpected argument " + argv[i]);
            String name = argv[i].substring(2);
            if (name.equals("soap12")) {
                args.put(name, "true");
            } else {
                if (i + 1 >= argv.length) throw new IllegalArgumentException("--" + name + " needs a value");
                args.put(name, argv[++i]);
            }
        }
        for (String value : args.values()) {
            // The JVM decodes argv with the locale's charset: under LANG=C the Thai options arrive as U+FFFD.
            if (value.indexOf('\uFFFD') >= 0) {
                throw new IllegalArgumentException("an option was not decoded as UTF-8 (sun.jnu.encoding="
                        + System.getProperty("sun.jnu.encoding") + "): run java under a UTF-8 locale, e.g. LC_ALL=C.UTF-8");
            }
        }
        for (String name : new String[] {"wsdl", "sender", "receiver", "letter-id", "subject", "date", "pdf", "accept-id"}) {
            if (!args.containsKey(name)) throw new IllegalArgumentException("missing --" + name);
        }
        return args;
    }

    public static void main(String[] argv) {
        // UTF-8 whatever the platform's default: the JSON carries Thai text.
        PrintStream stdout = new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
        try {
            StringBuilder sb = new StringBuilder();
            json(sb, run(parse(argv)));
            stdout.println(sb);
            stdout.flush();
        } catch (Throwable e) {
            e.printStackTrace();
            System.exit(1);
        }
    }
}
